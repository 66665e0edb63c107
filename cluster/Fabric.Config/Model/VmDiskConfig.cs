namespace Fabric.Config.Model;

/// <summary>A VM disk: from <c>disks = ["name"]</c> or a <c>[[vm.disk]]</c> table.</summary>
public sealed record VmDiskConfig
{
    public required string Volume { get; init; }

    public DiskTransport Transport { get; init; } = DiskTransport.VhostUser;

    public bool ReadOnly { get; init; }

    public ConfigSource Source { get; init; } = ConfigSource.None;
}
