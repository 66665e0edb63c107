// UDP header (RFC 768): src(2) dst(2) length(2) checksum(2).
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct UdpDatagram
{
    public const int HeaderLength = 8;
    private readonly Span<byte> _b;

    private UdpDatagram(Span<byte> b) { _b = b; }

    /// <summary>The length field must cover the header and fit the IP payload.</summary>
    public static FrameError TryParse(Span<byte> bytes, out UdpDatagram udp)
    {
        udp = new UdpDatagram(bytes);
        if (bytes.Length < HeaderLength) return FrameError.UdpTruncated;
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        if (length < HeaderLength || length > bytes.Length) return FrameError.UdpBadLength;
        udp = new UdpDatagram(bytes[..length]);
        return FrameError.None;
    }

    public Span<byte> Bytes => _b;
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_b);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]);
    public ushort Length => BinaryPrimitives.ReadUInt16BigEndian(_b[4..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_b[6..]);
    public Span<byte> Payload => _b[HeaderLength..];

    public static void WriteHeader(Span<byte> b, ushort sourcePort, ushort destinationPort, int length, ushort checksum = 0)
    {
        BinaryPrimitives.WriteUInt16BigEndian(b, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], (ushort)length);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], checksum);
    }
}
