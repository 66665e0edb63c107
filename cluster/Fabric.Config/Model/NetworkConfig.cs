using System.Net;

namespace Fabric.Config.Model;

/// <summary>One <c>[[network]]</c>: a VLAN or a VXLAN overlay with an IPv4 subnet and ACL rules.</summary>
public sealed record NetworkConfig
{
    public const int DefaultVlanMtu = 1500;

    /// <summary>1500 minus the 50 bytes of VXLAN encapsulation, so overlay frames fit a standard underlay.</summary>
    public const int DefaultVxlanMtu = 1450;

    public required string Name { get; init; }

    public required NetworkKind Kind { get; init; }

    /// <summary>802.1Q id (1-4094) of a vlan network; null for vxlan.</summary>
    public int? Vlan { get; init; }

    /// <summary>VXLAN network identifier (1-16777215) of a vxlan network; null for vlan.</summary>
    public int? Vni { get; init; }

    public required IPNetwork Subnet { get; init; }

    public IPAddress? Gateway { get; init; }

    public required int Mtu { get; init; }

    /// <summary>Physical interface carrying this VLAN network on every node; null: each node's own uplink.</summary>
    public string? Uplink { get; init; }

    /// <summary>Rules in file order; the switch evaluates them by priority (higher first).</summary>
    public IReadOnlyList<AclRuleConfig> Acl { get; init; } = [];

    public ConfigSource Source { get; init; } = ConfigSource.None;

    /// <summary>"vxlan 5001" or "vlan 100".</summary>
    public string Describe() => Kind == NetworkKind.Vxlan ? $"vxlan {Vni}" : $"vlan {Vlan}";
}
