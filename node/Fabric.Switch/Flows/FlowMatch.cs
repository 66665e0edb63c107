// The match half of a flow rule: every field is optional (absent = wildcard). Fields follow the FlowKey,
// plus pipeline metadata: the network the frame was classified into, the kind of the ingress port, and,
// in the egress table, the kind of the port a frame is about to leave by.
using System.Text;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;

namespace Fabric.Switch.Flows;

public sealed record FlowMatch
{
    public static readonly FlowMatch Any = new();

    public int? InPort { get; init; }
    public PortKind? InPortKind { get; init; }
    public int? Network { get; init; }
    public PortKind? OutPortKind { get; init; }
    public MacAddress? EthSrc { get; init; }
    public MacAddress? EthDst { get; init; }
    /// <summary>Mask for <see cref="EthDst"/> (default all ones); 01:00:00:00:00:00 matches the group bit.</summary>
    public MacAddress? EthDstMask { get; init; }
    public ushort? EthType { get; init; }
    /// <summary>VLAN id of a tagged frame; <see cref="Untagged"/> matches frames without a tag.</summary>
    public ushort? Vlan { get; init; }
    public uint? Vni { get; init; }
    public IpPrefix? IpSrc { get; init; }
    public IpPrefix? IpDst { get; init; }
    public byte? IpProto { get; init; }
    public ushort? L4SrcMin { get; init; }
    public ushort? L4SrcMax { get; init; }
    public ushort? L4DstMin { get; init; }
    public ushort? L4DstMax { get; init; }
    /// <summary>Key flags that must all be set.</summary>
    public FlowKeyFlags? Flags { get; init; }

    public const ushort Untagged = 0xFFFF;

    /// <summary>Pipeline state a match sees besides the key.</summary>
    public readonly record struct Context(int Network, PortKind InPortKind, PortKind OutPortKind);

    public bool Matches(in FlowKey k, in Context c)
    {
        if (InPort is int ip && ip != k.InPort) return false;
        if (InPortKind is PortKind ik && ik != c.InPortKind) return false;
        if (Network is int n && n != c.Network) return false;
        if (OutPortKind is PortKind ok && ok != c.OutPortKind) return false;
        if (EthSrc is MacAddress es && es.Value != k.EthSrc) return false;
        if (EthDst is MacAddress ed)
        {
            ulong mask = EthDstMask?.Value ?? MacAddress.Broadcast.Value;
            if ((ed.Value & mask) != (k.EthDst & mask)) return false;
        }
        if (EthType is ushort et && et != k.EthType) return false;
        if (Vlan is ushort v && (v == Untagged ? k.HasVlan : !k.HasVlan || k.VlanId != v)) return false;
        if (Vni is uint vni && ((k.Flags & FlowKeyFlags.Tunnel) == 0 || k.Vni != vni)) return false;
        if (IpSrc is IpPrefix ps && !ps.Contains(k.IpSrc)) return false;
        if (IpDst is IpPrefix pd && !pd.Contains(k.IpDst)) return false;
        if (IpProto is byte pr && pr != k.IpProto) return false;
        if (L4SrcMin is ushort smin && k.L4Src < smin) return false;
        if (L4SrcMax is ushort smax && k.L4Src > smax) return false;
        if (L4DstMin is ushort dmin && k.L4Dst < dmin) return false;
        if (L4DstMax is ushort dmax && k.L4Dst > dmax) return false;
        if (Flags is FlowKeyFlags f && (k.Flags & f) != f) return false;
        return true;
    }

    /// <summary>Open vSwitch-like text, e.g. "in_port=vm1-0,dl_src=52:54:00:0a:00:0b,ip,nw_src=10.10.0.11".</summary>
    public string Format(Func<int, string>? portName = null, Func<int, string>? networkName = null)
    {
        var sb = new StringBuilder();
        void Add(string s) { if (sb.Length > 0) sb.Append(','); sb.Append(s); }
        if (InPort is int ip) Add($"in_port={portName?.Invoke(ip) ?? ip.ToString()}");
        if (InPortKind is PortKind ik) Add($"in_port_kind={ik.ToString().ToLowerInvariant()}");
        if (Network is int n) Add($"network={networkName?.Invoke(n) ?? n.ToString()}");
        if (OutPortKind is PortKind ok) Add($"out_port_kind={ok.ToString().ToLowerInvariant()}");
        if (Vni is uint vni) Add($"tun_id={vni}");
        if (Vlan is ushort v) Add(v == Untagged ? "vlan_tci=0" : $"dl_vlan={v}");
        if (EthSrc is MacAddress es) Add($"dl_src={es}");
        if (EthDst is MacAddress ed) Add(EthDstMask is MacAddress m ? $"dl_dst={ed}/{m}" : $"dl_dst={ed}");
        string? l3 = EthType switch
        {
            EtherType.Arp => "arp",
            EtherType.Rarp => "rarp",
            EtherType.Ipv4 => IpProto switch { IpProtocol.Tcp => "tcp", IpProtocol.Udp => "udp", IpProtocol.Icmp => "icmp", _ => "ip" },
            EtherType.Ipv6 => IpProto switch { IpProtocol.Tcp => "tcp6", IpProtocol.Udp => "udp6", IpProtocol.Icmpv6 => "icmp6", _ => "ipv6" },
            ushort t => $"dl_type=0x{t:x4}",
            null => null,
        };
        if (l3 is not null) Add(l3);
        bool arp = EthType is EtherType.Arp or EtherType.Rarp;
        if (IpSrc is IpPrefix s) Add($"{(arp ? "arp_spa" : "nw_src")}={s}");
        if (IpDst is IpPrefix d) Add($"{(arp ? "arp_tpa" : "nw_dst")}={d}");
        if (IpProto is byte p && (arp || l3 is "ip" or "ipv6" or null)) Add($"{(arp ? "arp_op" : "nw_proto")}={p}");
        string Range(ushort? lo, ushort? hi) => lo == hi ? $"{lo}" : $"{lo ?? 0}-{hi ?? 65535}";
        if (L4SrcMin is not null || L4SrcMax is not null) Add($"tp_src={Range(L4SrcMin, L4SrcMax)}");
        if (L4DstMin is not null || L4DstMax is not null) Add($"tp_dst={Range(L4DstMin, L4DstMax)}");
        if (Flags is FlowKeyFlags f) Add($"flags={f}");
        return sb.Length == 0 ? "*" : sb.ToString();
    }

    public override string ToString() => Format();
}
