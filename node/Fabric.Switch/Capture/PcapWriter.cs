// Classic libpcap file format (what tshark/Wireshark read): a 24-byte global header (magic 0xa1b2c3d4,
// version 2.4, snaplen, LINKTYPE_ETHERNET = 1), then per frame a 16-byte record header (seconds,
// microseconds, captured length, original length) and the frame bytes. Little-endian host order.
using System.Buffers.Binary;

namespace Fabric.Switch.Capture;

public sealed class PcapWriter : IDisposable
{
    public const uint Magic = 0xA1B2C3D4;
    public const uint LinkTypeEthernet = 1;
    public const int GlobalHeaderLength = 24;
    public const int RecordHeaderLength = 16;
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly int _snapLength;
    private readonly byte[] _header = new byte[RecordHeaderLength];

    public PcapWriter(Stream stream, int snapLength = 262144, bool ownsStream = true)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        _snapLength = snapLength;
        Span<byte> g = stackalloc byte[GlobalHeaderLength];
        WriteGlobalHeader(g, snapLength);
        _stream.Write(g);
    }

    public long FramesWritten { get; private set; }

    public static void WriteGlobalHeader(Span<byte> g, int snapLength)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(g, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(g[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(g[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(g[8..], 0);   // thiszone
        BinaryPrimitives.WriteUInt32LittleEndian(g[12..], 0); // sigfigs
        BinaryPrimitives.WriteUInt32LittleEndian(g[16..], (uint)snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(g[20..], LinkTypeEthernet);
    }

    public static void WriteRecordHeader(Span<byte> h, DateTimeOffset timestamp, int capturedLength, int originalLength)
    {
        long us = timestamp.ToUnixTimeMilliseconds() * 1000 + (timestamp.Ticks / 10) % 1000;
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)(us / 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)(us % 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], (uint)capturedLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], (uint)originalLength);
    }

    public void Write(DateTimeOffset timestamp, ReadOnlySpan<byte> frame)
    {
        int captured = Math.Min(frame.Length, _snapLength);
        WriteRecordHeader(_header, timestamp, captured, frame.Length);
        _stream.Write(_header);
        _stream.Write(frame[..captured]);
        FramesWritten++;
    }

    public void Flush() => _stream.Flush();

    public void Dispose()
    {
        _stream.Flush();
        if (_ownsStream) _stream.Dispose();
    }
}
