using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;

namespace Fabric.Rpc.Protocol;

/// <summary>
/// The gRPC Length-Prefixed-Message: one byte compressed flag (0 = identity, 1 = compressed with the
/// call's grpc-encoding), a 4-byte big-endian length, then the message bytes. DATA frame boundaries
/// have nothing to do with message boundaries: a message may span frames and a frame may hold several.
/// </summary>
public static class GrpcFrame
{
    public const int HeaderLength = 5;

    public static void WriteHeader(Span<byte> destination, int messageLength, bool compressed = false)
    {
        if (destination.Length < HeaderLength)
        {
            throw new ArgumentException("Destination is shorter than the 5-byte message header.", nameof(destination));
        }

        destination[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(destination[1..], checked((uint)messageLength));
    }

    /// <summary>Reads the 5-byte header at the start of <paramref name="buffer"/>; false when fewer bytes are there.</summary>
    public static bool TryReadHeader(in ReadOnlySequence<byte> buffer, out byte compressedFlag, out uint messageLength)
    {
        if (buffer.Length < HeaderLength)
        {
            compressedFlag = 0;
            messageLength = 0;
            return false;
        }

        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= HeaderLength)
        {
            compressedFlag = first[0];
            messageLength = BinaryPrimitives.ReadUInt32BigEndian(first[1..]);
            return true;
        }

        Span<byte> header = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(header);
        compressedFlag = header[0];
        messageLength = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        return true;
    }

    /// <summary>
    /// Writes header + message to <paramref name="writer"/> (a pipe, a pooled buffer writer) without
    /// an intermediate copy. Returns the message length (without the header).
    /// </summary>
    public static int Write(IBufferWriter<byte> writer, IMessage message)
    {
        int size = message.CalculateSize();
        Span<byte> span = writer.GetSpan(HeaderLength + size);
        if (span.Length >= HeaderLength + size)
        {
            WriteHeader(span, size);
            message.WriteTo(span.Slice(HeaderLength, size));
            writer.Advance(HeaderLength + size);
        }
        else
        {
            WriteHeader(span, size);
            writer.Advance(HeaderLength);
            message.WriteTo(writer);
        }

        return size;
    }

    /// <summary>Writes header + message into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Write(Span<byte> destination, IMessage message, int messageSize)
    {
        WriteHeader(destination, messageSize);
        message.WriteTo(destination.Slice(HeaderLength, messageSize));
        return HeaderLength + messageSize;
    }
}
