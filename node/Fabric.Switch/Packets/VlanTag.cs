// IEEE 802.1Q tag: TPID (0x8100) then TCI = PCP(3) | DEI(1) | VID(12). The view covers the 4 tag bytes.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct VlanTag
{
    public const int Length = 4;
    public const int MaxVlanId = 4094;
    private readonly Span<byte> _b;

    public VlanTag(Span<byte> fourBytes) { _b = fourBytes; }

    public ushort Tpid { get => BinaryPrimitives.ReadUInt16BigEndian(_b); set => BinaryPrimitives.WriteUInt16BigEndian(_b, value); }
    public ushort Tci { get => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(_b[2..], value); }
    public ushort VlanId => (ushort)(Tci & 0x0FFF);
    public byte Priority => (byte)(Tci >> 13);
    public bool DropEligible => (Tci & 0x1000) != 0;

    public static void Write(Span<byte> fourBytes, ushort vlanId, byte priority = 0)
    {
        BinaryPrimitives.WriteUInt16BigEndian(fourBytes, EtherType.Vlan);
        BinaryPrimitives.WriteUInt16BigEndian(fourBytes[2..], (ushort)((priority << 13) | (vlanId & 0x0FFF)));
    }
}
