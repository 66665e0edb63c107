// VXLAN header (RFC 7348 section 5): flags(1) with I = 0x08, reserved(3), VNI(3), reserved(1); the inner
// Ethernet frame follows. Carried in UDP to port 4789. A header without the I flag carries no valid VNI
// and is dropped (the RFC says receivers must ignore such packets' VNI; we do not guess one).
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct VxlanHeader
{
    public const int Length = 8;
    public const byte FlagVniValid = 0x08;
    public const ushort DefaultPort = 4789;
    public const uint MaxVni = 0xFF_FFFF;
    /// <summary>Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14): what a VXLAN network's MTU gives up.</summary>
    public const int Ipv4Overhead = 20 + UdpDatagram.HeaderLength + Length + EthernetFrame.HeaderLength;
    private readonly Span<byte> _b;

    private VxlanHeader(Span<byte> b) { _b = b; }

    public static FrameError TryParse(Span<byte> bytes, out VxlanHeader vxlan)
    {
        vxlan = new VxlanHeader(bytes);
        if (bytes.Length < Length + EthernetFrame.HeaderLength) return FrameError.VxlanTruncated;
        if ((bytes[0] & FlagVniValid) == 0) return FrameError.VxlanNoVni;
        return FrameError.None;
    }

    public byte Flags => _b[0];
    public uint Vni => BinaryPrimitives.ReadUInt32BigEndian(_b[4..]) >> 8;
    public Span<byte> InnerFrame => _b[Length..];

    public static void Write(Span<byte> b, uint vni)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)FlagVniValid << 24);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], vni << 8);
    }
}
