using System.Net;

namespace Fabric.Config.Model;

/// <summary>One <c>[[network.acl]]</c> rule.</summary>
public sealed record AclRuleConfig
{
    public required AclAction Action { get; init; }

    public AclDirection Direction { get; init; } = AclDirection.Both;

    public AclProtocol Protocol { get; init; } = AclProtocol.Any;

    /// <summary>Remote side; null: any address.</summary>
    public IPNetwork? Cidr { get; init; }

    /// <summary>L4 ports (tcp/udp only); null: any port.</summary>
    public PortRange? Port { get; init; }

    /// <summary>Higher first; equal priorities keep file order.</summary>
    public int Priority { get; init; }

    public ConfigSource Source { get; init; } = ConfigSource.None;
}
