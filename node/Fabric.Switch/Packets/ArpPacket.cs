// ARP (RFC 826) for Ethernet/IPv4, also used for RARP (RFC 903, QEMU's announce after migration):
//   htype(2)=1 ptype(2)=0x0800 hlen(1)=6 plen(1)=4 op(2) sha(6) spa(4) tha(6) tpa(4)  = 28 bytes
// Any other hardware/protocol combination is not something a VM on an Ethernet/IPv4 network sends; it
// is reported as unsupported and dropped.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct ArpPacket
{
    public const int Length = 28;
    public const ushort OpRequest = 1;
    public const ushort OpReply = 2;
    public const ushort OpReverseRequest = 3;
    public const ushort OpReverseReply = 4;
    private readonly Span<byte> _b;

    private ArpPacket(Span<byte> b) { _b = b; }

    public static FrameError TryParse(Span<byte> bytes, out ArpPacket arp)
    {
        arp = new ArpPacket(bytes);
        if (bytes.Length < Length) return FrameError.ArpTruncated;
        if (BinaryPrimitives.ReadUInt16BigEndian(bytes) != 1 || BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]) != EtherType.Ipv4
            || bytes[4] != 6 || bytes[5] != 4)
            return FrameError.ArpUnsupported;
        return FrameError.None;
    }

    public ushort Operation { get => BinaryPrimitives.ReadUInt16BigEndian(_b[6..]); set => BinaryPrimitives.WriteUInt16BigEndian(_b[6..], value); }
    public MacAddress SenderMac { get => MacAddress.Read(_b[8..]); set => value.Write(_b[8..]); }
    public uint SenderIp { get => BinaryPrimitives.ReadUInt32BigEndian(_b[14..]); set => BinaryPrimitives.WriteUInt32BigEndian(_b[14..], value); }
    public MacAddress TargetMac { get => MacAddress.Read(_b[18..]); set => value.Write(_b[18..]); }
    public uint TargetIp { get => BinaryPrimitives.ReadUInt32BigEndian(_b[24..]); set => BinaryPrimitives.WriteUInt32BigEndian(_b[24..], value); }

    /// <summary>Writes a complete Ethernet/IPv4 ARP body into 28 bytes.</summary>
    public static void Write(Span<byte> b, ushort op, MacAddress senderMac, uint senderIp, MacAddress targetMac, uint targetIp)
    {
        BinaryPrimitives.WriteUInt16BigEndian(b, 1);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], EtherType.Ipv4);
        b[4] = 6;
        b[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], op);
        senderMac.Write(b[8..]);
        BinaryPrimitives.WriteUInt32BigEndian(b[14..], senderIp);
        targetMac.Write(b[18..]);
        BinaryPrimitives.WriteUInt32BigEndian(b[24..], targetIp);
    }
}
