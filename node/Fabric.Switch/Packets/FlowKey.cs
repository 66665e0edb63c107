// The exact-match key of a frame: every header field the flow table can match on, extracted once per
// frame. 64 bytes, compared and hashed as eight ulongs. Conventions follow Open vSwitch: for ARP/RARP
// the IP fields hold SPA/TPA and IpProto the opcode; for ICMP the L4 fields hold type and code.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fabric.Switch.Packets;

[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct FlowKey : IEquatable<FlowKey>
{
    /// <summary>Set in <see cref="Vlan"/> when the frame carries an 802.1Q tag (VID 0 is a priority tag).</summary>
    public const ushort VlanPresent = 0x1000;

    public UInt128 IpSrc;
    public UInt128 IpDst;
    public ulong EthSrc;
    public ulong EthDst;
    /// <summary>VXLAN network identifier of a frame that arrived through the tunnel (with <see cref="FlowKeyFlags.Tunnel"/>).</summary>
    public uint Vni;
    public ushort InPort;
    public ushort EthType;
    /// <summary>VID | <see cref="VlanPresent"/>, or 0 for an untagged frame.</summary>
    public ushort Vlan;
    public ushort L4Src;
    public ushort L4Dst;
    public byte IpProto;
    public FlowKeyFlags Flags;

    public readonly MacAddress Source => new(EthSrc);
    public readonly MacAddress Destination => new(EthDst);
    public readonly bool HasVlan => (Vlan & VlanPresent) != 0;
    public readonly ushort VlanId => (ushort)(Vlan & 0x0FFF);
    public readonly bool IsIp => EthType is EtherType.Ipv4 or EtherType.Ipv6;
    public readonly bool IsArp => EthType is EtherType.Arp or EtherType.Rarp;

    public readonly bool Equals(FlowKey other)
    {
        ref ulong a = ref Unsafe.As<FlowKey, ulong>(ref Unsafe.AsRef(in this));
        ref ulong b = ref Unsafe.As<FlowKey, ulong>(ref other);
        return (a ^ b | Unsafe.Add(ref a, 1) ^ Unsafe.Add(ref b, 1) | Unsafe.Add(ref a, 2) ^ Unsafe.Add(ref b, 2)
              | Unsafe.Add(ref a, 3) ^ Unsafe.Add(ref b, 3) | Unsafe.Add(ref a, 4) ^ Unsafe.Add(ref b, 4)
              | Unsafe.Add(ref a, 5) ^ Unsafe.Add(ref b, 5) | Unsafe.Add(ref a, 6) ^ Unsafe.Add(ref b, 6)
              | Unsafe.Add(ref a, 7) ^ Unsafe.Add(ref b, 7)) == 0;
    }

    public override readonly bool Equals(object? obj) => obj is FlowKey k && Equals(k);

    /// <summary>CRC32C over the 64 bytes (one instruction per 8 bytes on x86/ARM).</summary>
    public override readonly int GetHashCode()
    {
        ref ulong a = ref Unsafe.As<FlowKey, ulong>(ref Unsafe.AsRef(in this));
        uint h = 0x9E3779B9;
        for (int i = 0; i < 8; i++) h = BitOperations.Crc32C(h, Unsafe.Add(ref a, i));
        return (int)h;
    }

    public override readonly string ToString()
    {
        var s = $"in_port={InPort} dl_src={Source} dl_dst={Destination} dl_type=0x{EthType:x4}";
        if (HasVlan) s += $" dl_vlan={VlanId}";
        if ((Flags & FlowKeyFlags.Tunnel) != 0) s += $" tun_id={Vni}";
        if (IsArp) s += $" arp_op={IpProto} arp_spa={IpBits.Format(IpSrc)} arp_tpa={IpBits.Format(IpDst)}";
        else if (IsIp)
        {
            s += $" nw_src={IpBits.Format(IpSrc)} nw_dst={IpBits.Format(IpDst)} nw_proto={IpProto}";
            if (IpProto is IpProtocol.Tcp or IpProtocol.Udp) s += $" tp_src={L4Src} tp_dst={L4Dst}";
            else if (IpProto is IpProtocol.Icmp or IpProtocol.Icmpv6) s += $" icmp_type={L4Src} icmp_code={L4Dst}";
        }
        return s;
    }

    public static bool operator ==(FlowKey a, FlowKey b) => a.Equals(b);
    public static bool operator !=(FlowKey a, FlowKey b) => !a.Equals(b);
}

[Flags]
public enum FlowKeyFlags : byte
{
    None = 0,
    /// <summary>The frame arrived through a VXLAN tunnel; <see cref="FlowKey.Vni"/> is valid.</summary>
    Tunnel = 1,
    /// <summary>An IP fragment other than the first: no L4 header.</summary>
    LaterFragment = 2,
    /// <summary>ARP whose sender hardware address differs from the Ethernet source (spoofing).</summary>
    ArpShaMismatch = 4,
}
