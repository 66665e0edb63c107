// TCP header (RFC 9293): src(2) dst(2) seq(4) ack(4) off/flags(2) window(2) csum(2) urg(2) [options].
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct TcpSegment
{
    public const int MinHeaderLength = 20;
    public const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10;
    private readonly Span<byte> _b;

    private TcpSegment(Span<byte> b) { _b = b; }

    public static FrameError TryParse(Span<byte> bytes, out TcpSegment tcp)
    {
        tcp = new TcpSegment(bytes);
        if (bytes.Length < MinHeaderLength) return FrameError.TcpTruncated;
        int off = (bytes[12] >> 4) * 4;
        if (off < MinHeaderLength) return FrameError.TcpBadHeader;
        if (off > bytes.Length) return FrameError.TcpTruncated;
        return FrameError.None;
    }

    public Span<byte> Bytes => _b;
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_b);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]);
    public uint SequenceNumber => BinaryPrimitives.ReadUInt32BigEndian(_b[4..]);
    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_b[8..]);
    public int HeaderLength => (_b[12] >> 4) * 4;
    public byte Flags => _b[13];
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_b[14..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_b[16..]);
    public Span<byte> Payload => _b[HeaderLength..];

    public static void WriteHeader(Span<byte> b, ushort sourcePort, ushort destinationPort, uint seq, uint ack, byte flags, ushort window)
    {
        BinaryPrimitives.WriteUInt16BigEndian(b, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], ack);
        b[12] = 5 << 4;
        b[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(b[14..], window);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], 0);
    }
}
