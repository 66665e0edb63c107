namespace Fabric.Config.Model;

/// <summary>One <c>[[vm.nic]]</c>: an access port on a network.</summary>
public sealed record VmNicConfig
{
    public required string Network { get; init; }

    public required MacAddress Mac { get; init; }

    /// <summary>The VM's address on the network (used for port security and ARP answers); null: not known.</summary>
    public InterfaceAddress? Ip { get; init; }

    /// <summary>Switch port name; null: derived from the VM name and NIC index.</summary>
    public string? Port { get; init; }

    public ConfigSource Source { get; init; } = ConfigSource.None;
}
