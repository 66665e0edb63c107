using Fabric.Core.Map;
using Fabric.Membership.Store;
using Fabric.Proto;
using Microsoft.Extensions.Logging;

namespace Fabric.Membership.Monitor;

/// <summary>
/// The active monitor: the single writer of the cluster map.
/// </summary>
/// <remarks>
/// <code>
///  Join/Heartbeat/ProposeChange/ReportFailure (gRPC, any thread)
///        |
///        v
///  MonitorCore --(one at a time)--> MapTransactions.Apply(current, tx) --> IMapStore.CommitAsync (CAS epoch)
///        |                                                                     |
///        +<------------------------- committed: current = next ----------------+
///        |
///        +--> MapHistory.Publish(next) --> every WatchMap stream
/// </code>
/// Contract: transactions are applied one at a time, in the order they acquire the write gate; each
/// committed map is published exactly once and in epoch order. A request id that was applied before
/// (by this monitor or, through the store, by another) is answered with the epoch it produced and not
/// applied again. A commit that loses the store's compare-and-swap means another monitor wrote: this
/// one catches up from the store and, for transactions not tied to a base epoch, retries.
/// </remarks>
public sealed class MonitorCore
{
    private const int MaxCommitAttempts = 5;
    private const int RecentRequestIds = 4096;

    private readonly IMapStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly Dictionary<string, ulong> _recentRequests = new();
    private readonly Queue<string> _recentRequestOrder = new();
    private ClusterMap? _current;

    public MonitorCore(IMapStore store, MapHistory history, FailureDetector detector, TimeProvider time, ILogger log)
    {
        _store = store;
        History = history;
        Detector = detector;
        _time = time;
        _log = log;
    }

    public MapHistory History { get; }

    public FailureDetector Detector { get; }

    public IMapStore Store => _store;

    /// <summary>The newest committed map (null before <see cref="InitializeAsync"/>).</summary>
    public ClusterMap? Current => Volatile.Read(ref _current);

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Loads the newest map from the store, or commits <paramref name="genesis"/> when the
    /// store is empty, then publishes it. Called when this monitor becomes active.</summary>
    public async Task<ClusterMap> InitializeAsync(Func<ClusterMap> genesis, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var latest = await _store.LoadLatestAsync(cancellationToken).ConfigureAwait(false);
            if (latest is null)
            {
                var first = genesis();
                var result = await _store.CommitAsync(first, "genesis", cancellationToken).ConfigureAwait(false);
                latest = result.Outcome == MapCommitOutcome.Committed ? first : await _store.LoadLatestAsync(cancellationToken).ConfigureAwait(false)
                    ?? throw new InvalidOperationException("the map store refused the first map and holds none");
                _log.LogInformation("Created cluster {Cluster} (fsid {Fsid}) at epoch {Epoch}", latest.ClusterName, latest.Fsid, latest.Epoch);
            }
            await CatchUpAsync(latest, cancellationToken).ConfigureAwait(false);
            Detector.Reset(latest);
            return latest;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Publishes every epoch between the current map and <paramref name="latest"/> in order.</summary>
    private async Task CatchUpAsync(ClusterMap latest, CancellationToken cancellationToken)
    {
        var current = Current;
        if (current is not null && latest.Epoch <= current.Epoch) return;
        var from = current is null ? latest.Epoch : current.Epoch + 1;
        if (latest.Epoch - from > (ulong)MapHistory.WatcherBacklog) from = latest.Epoch - (ulong)MapHistory.WatcherBacklog;
        for (var epoch = from; epoch < latest.Epoch; epoch++)
        {
            var map = await _store.LoadAsync(epoch, cancellationToken).ConfigureAwait(false);
            if (map is not null) PublishLocked(map);
        }
        PublishLocked(latest);
    }

    private void PublishLocked(ClusterMap map)
    {
        if (_current is not null && map.Epoch <= _current.Epoch) return;
        Volatile.Write(ref _current, map);
        History.Publish(map);
    }

    /// <summary>Applies a transaction and commits it. Never throws for a refused change: the result
    /// says why.</summary>
    public async Task<ProposeOutcome> ProposeAsync(MapTransaction transaction, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await ProposeLockedAsync(transaction, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private async Task<ProposeOutcome> ProposeLockedAsync(MapTransaction transaction, CancellationToken cancellationToken)
    {
        var current = Current ?? throw new InvalidOperationException("the monitor is not initialized");
        var requestId = transaction.RequestId;
        if (requestId.Length > 0)
        {
            if (_recentRequests.TryGetValue(requestId, out var seen)) return ProposeOutcome.Duplicate(seen);
            var stored = await _store.FindRequestAsync(requestId, cancellationToken).ConfigureAwait(false);
            if (stored is { } storedEpoch) return ProposeOutcome.Duplicate(storedEpoch);
        }

        for (int attempt = 1; ; attempt++)
        {
            var result = MapTransactions.Apply(current, transaction, NowMs);
            if (!result.Ok) return ProposeOutcome.Refused(result.Error!);
            var next = result.Map!;
            next.Monitors.Active = ActiveName ?? next.Monitors.Active;
            var commit = await _store.CommitAsync(next, requestId, cancellationToken).ConfigureAwait(false);
            switch (commit.Outcome)
            {
                case MapCommitOutcome.Committed:
                    RememberRequest(requestId, next.Epoch);
                    PublishLocked(next);
                    if (transaction.Reason.Length > 0) _log.LogInformation("Map epoch {Epoch}: {Reason}", next.Epoch, transaction.Reason);
                    return ProposeOutcome.Applied(next);
                case MapCommitOutcome.DuplicateRequest:
                    RememberRequest(requestId, commit.Epoch);
                    await RefreshFromStoreLockedAsync(cancellationToken).ConfigureAwait(false);
                    return ProposeOutcome.Duplicate(commit.Epoch);
                case MapCommitOutcome.EpochConflict:
                    _log.LogWarning("Map commit of epoch {Epoch} lost to another writer (store at {StoreEpoch}); catching up", next.Epoch, commit.Epoch);
                    await RefreshFromStoreLockedAsync(cancellationToken).ConfigureAwait(false);
                    current = Current!;
                    if (transaction.BaseEpoch != 0 || attempt >= MaxCommitAttempts)
                    {
                        return ProposeOutcome.Refused(new MapError(MapErrorKind.StaleEpoch,
                            $"the map moved to epoch {current.Epoch} while the change was being committed; re-read the map and retry"));
                    }
                    break;
            }
        }
    }

    /// <summary>Name written into each map as the active monitor (set by the role manager).</summary>
    public string? ActiveName { get; set; }

    private async Task RefreshFromStoreLockedAsync(CancellationToken cancellationToken)
    {
        var latest = await _store.LoadLatestAsync(cancellationToken).ConfigureAwait(false);
        if (latest is not null) await CatchUpAsync(latest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Catches up with maps written by another monitor (a standby following the store).</summary>
    public async Task RefreshFromStoreAsync(CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await RefreshFromStoreLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private void RememberRequest(string requestId, ulong epoch)
    {
        if (requestId.Length == 0 || _recentRequests.ContainsKey(requestId)) return;
        _recentRequests[requestId] = epoch;
        _recentRequestOrder.Enqueue(requestId);
        while (_recentRequestOrder.Count > RecentRequestIds) _recentRequests.Remove(_recentRequestOrder.Dequeue());
    }

    // ---- membership operations ----

    public async Task<JoinOutcome> JoinAsync(JoinRequest request, CancellationToken cancellationToken)
    {
        var current = Current ?? throw new InvalidOperationException("the monitor is not initialized");
        if (request.Fsid.Length > 0 && request.Fsid != current.Fsid)
        {
            return JoinOutcome.Refused(new MapError(MapErrorKind.FailedPrecondition,
                $"node {request.Name} belongs to cluster fsid {request.Fsid}, but this is cluster {current.ClusterName} (fsid {current.Fsid}); wipe the node's data directory to join this cluster"));
        }
        var node = new NodeInfo
        {
            Name = request.Name,
            GrpcAddress = request.GrpcAddress,
            DataAddress = request.DataAddress,
            StorageAddress = request.StorageAddress,
            FailureDomain = request.FailureDomain.Length > 0 ? request.FailureDomain : request.Name,
            CapacityBytes = request.CapacityBytes,
            MemoryBytes = request.MemoryBytes,
            Cpus = request.Cpus,
            Version = request.Version,
            Weight = request.Weight,
        };
        var tx = new MapTransaction { Reason = $"node {request.Name} joined from {request.GrpcAddress}" };
        tx.Changes.Add(new MapChange { NodeUpsert = new NodeUpsert { Node = node } });
        var existing = current.FindNode(request.Name);
        var heldDown = existing is not null && Detector.IsHeldDown(existing.Id);
        if (heldDown)
        {
            tx.Changes.Add(new MapChange
            {
                NodeState = new NodeStateChange
                {
                    NodeId = existing!.Id,
                    State = NodeState.Down,
                    Reason = $"held down: flapping (penalty {Detector.PenaltyOf(existing.Id):0}); it comes up when it has been stable for a while",
                },
            });
            tx.Reason += " (held down: flapping)";
        }
        var outcome = await ProposeAsync(tx, cancellationToken).ConfigureAwait(false);
        if (outcome.Error is not null) return JoinOutcome.Refused(outcome.Error);
        var map = Current!;
        var joined = map.FindNode(request.Name)!;
        if (heldDown) Detector.MarkHeldDown(joined.Id);
        Detector.OnJoin(joined.Id, joined.Incarnation);
        return JoinOutcome.Joined(new JoinReply { NodeId = joined.Id, Incarnation = joined.Incarnation, Map = map });
    }

    public HeartbeatReply Heartbeat(HeartbeatRequest request)
    {
        var current = Current ?? throw new InvalidOperationException("the monitor is not initialized");
        var node = current.FindNode(request.NodeId);
        if (node is null || node.Incarnation != request.Incarnation)
        {
            return new HeartbeatReply { Epoch = current.Epoch, Known = false };
        }
        Detector.OnHeartbeat(node.Id, node.Incarnation);
        // A node marked down must rejoin (new incarnation) unless it is only held down by damping.
        var known = node.State == NodeState.Up || Detector.IsHeldDown(node.Id);
        return new HeartbeatReply { Epoch = current.Epoch, Known = known };
    }

    public void ReportFailure(FailureReport report)
    {
        Detector.OnPeerReport(report.ReporterNodeId, report.FailedNodeId, report.Reason);
    }

    /// <summary>Runs the failure detector once and commits what it decided. Returns the new epoch, or 0.</summary>
    public async Task<ulong> TickAsync(CancellationToken cancellationToken)
    {
        var current = Current;
        if (current is null) return 0;
        var changes = Detector.Evaluate(current);
        if (changes.Count == 0) return 0;
        var tx = new MapTransaction { Reason = "failure detector: " + string.Join("; ", changes.Select(Describe)) };
        tx.Changes.AddRange(changes);
        var outcome = await ProposeAsync(tx, cancellationToken).ConfigureAwait(false);
        if (outcome.Error is not null)
        {
            _log.LogWarning("Failure detector change refused: {Error}", outcome.Error.Message);
            return 0;
        }
        return outcome.Epoch;

        string Describe(MapChange change) => change.ChangeCase switch
        {
            MapChange.ChangeOneofCase.NodeState => $"node {Name(change.NodeState.NodeId)} {change.NodeState.State.StateText()}: {change.NodeState.Reason}",
            MapChange.ChangeOneofCase.NodeInOut => $"node {Name(change.NodeInOut.NodeId)} {(change.NodeInOut.In ? "in" : "out")}: {change.NodeInOut.Reason}",
            _ => change.ChangeCase.ToString(),
        };
        string Name(uint id) => current.FindNode(id)?.Name ?? id.ToString();
    }
}

public sealed record ProposeOutcome(ulong Epoch, bool IsDuplicate, MapError? Error, ClusterMap? Map)
{
    public static ProposeOutcome Applied(ClusterMap map) => new(map.Epoch, false, null, map);

    public static ProposeOutcome Duplicate(ulong epoch) => new(epoch, true, null, null);

    public static ProposeOutcome Refused(MapError error) => new(0, false, error, null);
}

public sealed record JoinOutcome(JoinReply? Reply, MapError? Error)
{
    public static JoinOutcome Joined(JoinReply reply) => new(reply, null);

    public static JoinOutcome Refused(MapError error) => new(null, error);
}
