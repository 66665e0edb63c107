using Fabric.Membership.Client;
using Fabric.Proto;

namespace Fabric.Client.Objects;

/// <summary>The map source of nodes and of the CLI: the newest map of a monitor watch.</summary>
public sealed class WatchedMapSource(MapWatcher watcher) : IMapSource
{
    public ClusterMap Current => watcher.Current ?? throw new InvalidOperationException("no cluster map received yet");

    public Task<ClusterMap> WaitForNewerAsync(ulong epoch, CancellationToken cancellationToken) =>
        watcher.WaitForEpochAsync(epoch + 1, cancellationToken);
}
