using Fabric.Proto;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Datapath;

public enum NetworkKind : byte
{
    Vlan,
    Vxlan,
}

/// <summary>
/// A network as the datapath needs it, derived from the cluster map by the control plane: identity and
/// encapsulation, ACL rules, which remote nodes get its broadcast/unknown traffic, and the IP -> MAC
/// bindings the switch answers ARP for.
/// </summary>
public sealed record NetworkSpec
{
    public required int Id { get; init; }
    public required string Name { get; init; }
    public required NetworkKind Kind { get; init; }
    public ushort Vlan { get; init; }
    public uint Vni { get; init; }
    public int Mtu { get; init; } = 1500;
    public string Subnet { get; init; } = "";
    /// <summary>The interface carrying a VLAN network tagged ("" = the switch's default uplink, if any).</summary>
    public string Uplink { get; init; } = "";
    public IReadOnlyList<AclRule> Acl { get; init; } = [];
    /// <summary>Remote nodes with ports on this network: broadcast and unknown unicast go to these only.</summary>
    public IReadOnlyList<uint> FloodNodes { get; init; } = [];
    public IReadOnlyList<ArpBinding> ArpBindings { get; init; } = [];

    /// <summary>Value equality that compares the lists' contents (records compare list references).</summary>
    public bool SameAs(NetworkSpec o) =>
        Id == o.Id && Name == o.Name && Kind == o.Kind && Vlan == o.Vlan && Vni == o.Vni && Mtu == o.Mtu && Subnet == o.Subnet
        && Uplink == o.Uplink && Acl.SequenceEqual(o.Acl) && FloodNodes.SequenceEqual(o.FloodNodes) && ArpBindings.SequenceEqual(o.ArpBindings);
}

public readonly record struct ArpBinding(uint Ip, MacAddress Mac);
