using Fabric.Core.Io;

namespace Fabric.Config.Model;

/// <summary>A VM disk: from <c>disks = ["name"]</c> or a <c>[[vm.disk]]</c> table.</summary>
public sealed record VmDiskConfig
{
    public required string Volume { get; init; }

    public DiskTransport Transport { get; init; } = DiskTransport.VhostUser;

    public bool ReadOnly { get; init; }

    /// <summary>The disk's <c>cache</c> key: whether its writes may be acknowledged from the node's write cache.</summary>
    public DiskCacheMode Cache { get; init; } = DiskCacheMode.Default;

    public ConfigSource Source { get; init; } = ConfigSource.None;
}
