// IPv6 header (RFC 8200): ver/tc/flow(4) payload-len(2) next-header(1) hop-limit(1) src(16) dst(16).
// UpperLayer walks the extension headers a switch meets in practice (hop-by-hop, routing, destination
// options, fragment) to find the L4 protocol; anything else ends the walk with that header's number.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct Ipv6Packet
{
    public const int HeaderLength = 40;
    private const int MaxExtensionHeaders = 8;
    private readonly Span<byte> _b;

    private Ipv6Packet(Span<byte> b) { _b = b; }

    public static FrameError TryParse(Span<byte> bytes, out Ipv6Packet ip)
    {
        ip = new Ipv6Packet(bytes);
        if (bytes.Length < HeaderLength) return FrameError.Ipv6Truncated;
        if (bytes[0] >> 4 != 6) return FrameError.Ipv6BadHeader;
        int payload = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        // Payload length 0 means a jumbogram (RFC 2675): not something an Ethernet port carries.
        if (payload == 0 && bytes[6] != IpProtocol.Ipv6NoNext) return FrameError.Ipv6BadHeader;
        if (HeaderLength + payload > bytes.Length) return FrameError.Ipv6Truncated;
        ip = new Ipv6Packet(bytes[..(HeaderLength + payload)]);
        return FrameError.None;
    }

    public Span<byte> Bytes => _b;
    public ushort PayloadLength => BinaryPrimitives.ReadUInt16BigEndian(_b[4..]);
    public byte NextHeader => _b[6];
    public byte HopLimit => _b[7];
    public UInt128 Source => IpBits.ReadIpv6(_b[8..]);
    public UInt128 Destination => IpBits.ReadIpv6(_b[24..]);
    public Span<byte> Payload => _b[HeaderLength..];

    /// <summary>
    /// Finds the upper-layer header. <paramref name="offset"/> is relative to the start of the IPv6 header.
    /// <paramref name="isLaterFragment"/> is set for a fragment other than the first (no L4 header there).
    /// </summary>
    public FrameError UpperLayer(out byte protocol, out int offset, out bool isLaterFragment)
    {
        protocol = NextHeader;
        offset = HeaderLength;
        isLaterFragment = false;
        for (int i = 0; i < MaxExtensionHeaders; i++)
        {
            switch (protocol)
            {
                case IpProtocol.HopByHop:
                case IpProtocol.Ipv6Routing:
                case IpProtocol.Ipv6DestOptions:
                    if (offset + 8 > _b.Length) return FrameError.Ipv6Truncated;
                    byte next = _b[offset];
                    offset += (_b[offset + 1] + 1) * 8;
                    protocol = next;
                    if (offset > _b.Length) return FrameError.Ipv6Truncated;
                    break;
                case IpProtocol.Ipv6Fragment:
                    if (offset + 8 > _b.Length) return FrameError.Ipv6Truncated;
                    protocol = _b[offset];
                    isLaterFragment = (BinaryPrimitives.ReadUInt16BigEndian(_b[(offset + 2)..]) & 0xFFF8) != 0;
                    offset += 8;
                    break;
                default:
                    return FrameError.None;
            }
        }
        return FrameError.Ipv6BadHeader;
    }

    public static void WriteHeader(Span<byte> b, int payloadLength, byte nextHeader, UInt128 source, UInt128 destination, byte hopLimit = 64)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x6000_0000);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], (ushort)payloadLength);
        b[6] = nextHeader;
        b[7] = hopLimit;
        IpBits.WriteIpv6(b[8..], source);
        IpBits.WriteIpv6(b[24..], destination);
    }
}
