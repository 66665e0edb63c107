// ICMP (RFC 792) and ICMPv6 (RFC 4443) share type(1) code(1) checksum(2) rest(4); echo request/reply
// put identifier(2) sequence(2) in the rest.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct IcmpMessage
{
    public const int HeaderLength = 8;
    public const byte EchoReply = 0;
    public const byte EchoRequest = 8;
    public const byte V6EchoRequest = 128;
    public const byte V6EchoReply = 129;
    private readonly Span<byte> _b;

    private IcmpMessage(Span<byte> b) { _b = b; }

    public static FrameError TryParse(Span<byte> bytes, out IcmpMessage icmp)
    {
        icmp = new IcmpMessage(bytes);
        return bytes.Length < HeaderLength ? FrameError.IcmpTruncated : FrameError.None;
    }

    public Span<byte> Bytes => _b;
    public byte Type { get => _b[0]; set => _b[0] = value; }
    public byte Code { get => _b[1]; set => _b[1] = value; }
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]);
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_b[4..]);
    public ushort Sequence => BinaryPrimitives.ReadUInt16BigEndian(_b[6..]);
    public Span<byte> Body => _b[HeaderLength..];

    /// <summary>ICMPv4 checksum covers the message only (no pseudo-header).</summary>
    public void UpdateChecksumV4()
    {
        BinaryPrimitives.WriteUInt16BigEndian(_b[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(_b[2..], InternetChecksum.Compute(_b));
    }
}
