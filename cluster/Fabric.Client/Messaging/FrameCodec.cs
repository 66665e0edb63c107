using System.Buffers;
using System.Buffers.Binary;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Client.Messaging;

/// <summary>
/// The storage frame: <c>[u32 length of the rest][u8 type][u32 header length][protobuf header][data]</c>,
/// little-endian. Data bytes are appended raw after the header, never wrapped in protobuf.
/// </summary>
public static class FrameCodec
{
    public const int PrefixSize = 9;

    /// <summary>Frames larger than this are refused as malformed (a 4 MiB object plus headers fits).</summary>
    public const int MaxFrameBytes = 64 << 20;

    public static int FrameSize(IMessage header, int dataLength) => PrefixSize + header.CalculateSize() + dataLength;

    public static void Write(IBufferWriter<byte> writer, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
    {
        int headerLength = header.CalculateSize();
        int total = PrefixSize + headerLength + data.Length;
        Span<byte> span = writer.GetSpan(total);
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)(total - 4));
        span[4] = (byte)type;
        BinaryPrimitives.WriteUInt32LittleEndian(span[5..], (uint)headerLength);
        header.WriteTo(span.Slice(PrefixSize, headerLength));
        data.CopyTo(span[(PrefixSize + headerLength)..]);
        writer.Advance(total);
    }

    /// <summary>Writes a frame's prefix and header only; its <paramref name="dataLength"/> data bytes follow separately.</summary>
    public static void WritePrefix(IBufferWriter<byte> writer, StorageMessageType type, IMessage header, int dataLength)
    {
        int headerLength = header.CalculateSize();
        Span<byte> span = writer.GetSpan(PrefixSize + headerLength);
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)(PrefixSize + headerLength + dataLength - 4));
        span[4] = (byte)type;
        BinaryPrimitives.WriteUInt32LittleEndian(span[5..], (uint)headerLength);
        header.WriteTo(span.Slice(PrefixSize, headerLength));
        writer.Advance(PrefixSize + headerLength);
    }

    /// <summary>Length of the frame that starts the buffer, 0 when more bytes are needed, -1 when malformed.</summary>
    public static int PeekFrameLength(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < 4)
        {
            return 0;
        }
        uint rest = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        if (rest < PrefixSize - 4 || rest > MaxFrameBytes)
        {
            return -1;
        }
        return (int)rest + 4;
    }

    /// <summary>Splits a whole frame; false when its header length is inconsistent.</summary>
    public static bool TrySplit(ReadOnlySpan<byte> frame, out StorageMessageType type, out ReadOnlySpan<byte> header, out ReadOnlySpan<byte> data)
    {
        header = default;
        data = default;
        if (frame.Length < PrefixSize || !TryReadPrefix(frame, frame.Length, out type, out int dataStart))
        {
            type = StorageMessageType.StorageMessageUnspecified;
            return false;
        }
        header = frame[PrefixSize..dataStart];
        data = frame[dataStart..];
        return true;
    }

    /// <summary>Reads the type and where the data starts from the prefix at the front of <paramref name="start"/> (at
    /// least <see cref="PrefixSize"/> bytes) of a frame of <paramref name="frameLength"/> bytes; false when the header
    /// length does not fit the frame.</summary>
    public static bool TryReadPrefix(ReadOnlySpan<byte> start, int frameLength, out StorageMessageType type, out int dataStart)
    {
        type = (StorageMessageType)start[4];
        uint headerLength = BinaryPrimitives.ReadUInt32LittleEndian(start[5..]);
        dataStart = 0;
        if (headerLength > (uint)(frameLength - PrefixSize))
        {
            return false;
        }
        dataStart = PrefixSize + (int)headerLength;
        return true;
    }
}
