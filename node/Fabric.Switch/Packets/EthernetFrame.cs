// Ethernet II frame view: dst(6) src(6) [802.1Q tag(4)] ethertype(2) payload. No FCS: every port the
// switch has (QEMU stream, TAP, AF_PACKET, VXLAN) carries frames without it.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct EthernetFrame
{
    public const int HeaderLength = 14;
    /// <summary>Largest frame the switch accepts on any port: a 64 KiB GSO frame plus headers.</summary>
    public const int MaxLength = 65535 + HeaderLength + VlanTag.Length;
    private readonly Span<byte> _b;

    private EthernetFrame(Span<byte> bytes) { _b = bytes; }

    public static FrameError TryParse(Span<byte> bytes, out EthernetFrame frame)
    {
        frame = new EthernetFrame(bytes);
        if (bytes.Length < HeaderLength) return FrameError.EthernetTruncated;
        if (bytes.Length > MaxLength) return FrameError.FrameTooLong;
        ushort t = BinaryPrimitives.ReadUInt16BigEndian(bytes[12..]);
        if ((t == Packets.EtherType.Vlan || t == Packets.EtherType.QinQ) && bytes.Length < HeaderLength + VlanTag.Length)
            return FrameError.VlanTruncated;
        return FrameError.None;
    }

    public Span<byte> Bytes => _b;
    public MacAddress Destination { get => MacAddress.Read(_b); set => value.Write(_b); }
    public MacAddress Source { get => MacAddress.Read(_b[6..]); set => value.Write(_b[6..]); }

    /// <summary>The outer type field: 0x8100 when the frame carries an 802.1Q tag.</summary>
    public ushort OuterType => BinaryPrimitives.ReadUInt16BigEndian(_b[12..]);
    public bool HasVlanTag => OuterType is Packets.EtherType.Vlan or Packets.EtherType.QinQ;
    public VlanTag Vlan => new(_b.Slice(12, VlanTag.Length));

    /// <summary>The payload's type, after the tag when there is one.</summary>
    public ushort EtherType => HasVlanTag ? BinaryPrimitives.ReadUInt16BigEndian(_b[16..]) : OuterType;
    public int PayloadOffset => HasVlanTag ? HeaderLength + VlanTag.Length : HeaderLength;
    public Span<byte> Payload => _b[PayloadOffset..];
}
