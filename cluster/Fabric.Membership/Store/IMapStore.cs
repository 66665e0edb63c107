using Fabric.Proto;

namespace Fabric.Membership.Store;

/// <summary>
/// Where the monitor keeps the cluster map: RocksDB on the one embedded monitor, or etcd for HA
/// monitors. The store is the arbiter of epochs: a commit succeeds only when it extends the store's
/// newest epoch by exactly one, so two monitors that both believe they are active can never both
/// commit epoch N+1 (compare-and-swap on the epoch).
/// </summary>
public interface IMapStore : IAsyncDisposable
{
    /// <summary>"embedded" or "etcd".</summary>
    string Kind { get; }

    Task<ClusterMap?> LoadLatestAsync(CancellationToken cancellationToken);

    /// <summary>A past map, or null when it was trimmed from the history.</summary>
    Task<ClusterMap?> LoadAsync(ulong epoch, CancellationToken cancellationToken);

    /// <summary>Stores <paramref name="next"/> if the store's newest epoch is next.Epoch - 1, and
    /// records <paramref name="requestId"/> (when not empty) as applied at that epoch, atomically.</summary>
    Task<MapCommitResult> CommitAsync(ClusterMap next, string requestId, CancellationToken cancellationToken);

    /// <summary>The epoch a request id produced, or null when it was never applied.</summary>
    Task<ulong?> FindRequestAsync(string requestId, CancellationToken cancellationToken);
}

public enum MapCommitOutcome
{
    Committed,
    /// <summary>Another writer committed first: the store's newest epoch is not next.Epoch - 1.</summary>
    EpochConflict,
    /// <summary>The request id was applied before (by this or another monitor).</summary>
    DuplicateRequest,
}

public readonly record struct MapCommitResult(MapCommitOutcome Outcome, ulong Epoch);
