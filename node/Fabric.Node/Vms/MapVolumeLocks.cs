using Fabric.Core.Map;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Vms;

/// <summary>
/// Volume locks in the cluster map (VolumeLockChange acquire/release, owner = the node's identity), with
/// the local holder table that keeps two users of one node apart.
/// </summary>
/// <remarks>
/// <code>
///   AcquireAsync(vol, "vm1")   local holder free? ──> map: acquire(owner node.2.5, "vm1") ──> wait until the
///                              node's own map has that epoch (its storage I/O then carries the lock's epoch)
///   a lock of this node's earlier incarnation (node.2.4: the process died holding it) is broken in the same
///   transaction, at the epoch it was seen in, so a lock taken by anyone else meanwhile is never broken.
///   ReleaseAsync(vol, "vm1")   local holder is vm1? ──> map: release(owner node.2.5)
///   live migration: the source arms a handover (<see cref="ArmHandover"/>): its switch-over release only drops
///   the local holder and the map keeps the lock until the migration's one transaction transfers it to the
///   destination; the destination's acquire of a lock the map already gives this node takes no transaction.
/// </code>
/// </remarks>
public sealed class MapVolumeLocks : IVolumeLocks
{
    private readonly MonitorClient _monitors;
    private readonly MapWatcher _maps;
    private readonly Func<(uint NodeId, ulong Incarnation)> _self;
    private readonly ILogger _log;
    private readonly Dictionary<string, string> _holders = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);

    private readonly Action<string> _acquired;

    /// <param name="acquired">Called with the volume name once the lock is held and the node's map has it
    /// (the storage client's writes must carry the lock's epoch).</param>
    public MapVolumeLocks(MonitorClient monitors, MapWatcher maps, Func<(uint NodeId, ulong Incarnation)> self, Action<string> acquired, ILogger log)
    {
        _monitors = monitors;
        _maps = maps;
        _self = self;
        _acquired = acquired;
        _log = log;
    }

    private readonly Dictionary<string, string> _handovers = new(StringComparer.Ordinal);

    /// <summary>
    /// A migration of <paramref name="holder"/> will hand <paramref name="volume"/>'s lock over in its own map
    /// transaction: until <see cref="DisarmHandover"/>, a release for that holder leaves the map alone.
    /// </summary>
    public void ArmHandover(string volume, string holder)
    {
        lock (_holders) _handovers[volume] = holder;
    }

    public void DisarmHandover(string volume)
    {
        lock (_holders) _handovers.Remove(volume);
    }

    public string? LocalHolder(string volume)
    {
        lock (_holders) return _holders.GetValueOrDefault(volume);
    }

    public async ValueTask<string?> AcquireAsync(string volume, string holder, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var local = LocalHolder(volume);
            if (local is not null && local != holder)
            {
                return $"volume {volume} is in use on this node by {local}";
            }
            var (nodeId, incarnation) = _self();
            var identity = MapLookup.NodeIdentity(nodeId, incarnation);
            for (var attempt = 0; ; attempt++)
            {
                var map = _maps.Current ?? throw new InvalidOperationException("the node has no map yet");
                var info = map.FindVolume(volume);
                if (info is null) return $"volume {volume} does not exist";
                if (info.Lock is { Owner.Length: > 0 } mine && mine.Owner == identity)
                {
                    // Already this node's in the map (handed over by a migration, or kept through a migration that
                    // was cancelled): only the local holder changes.
                    lock (_holders) _holders[volume] = holder;
                    _acquired(volume);
                    return null;
                }
                var tx = new MapTransaction { Reason = $"lock {volume} for {holder}" };
                if (info.Lock is { Owner.Length: > 0 } held && held.Owner != identity)
                {
                    if (MapLookup.TryParseNodeIdentity(held.Owner, out var heldNode, out var heldIncarnation) && heldNode == nodeId && heldIncarnation < incarnation)
                    {
                        // Our own earlier incarnation: that process is gone (this node rejoined with a newer one).
                        tx.BaseEpoch = map.Epoch;
                        tx.Changes.Add(new MapChange { VolumeLock = new VolumeLockChange { Volume = volume, Op = "break", Owner = held.Owner, Force = true } });
                    }
                    else
                    {
                        return Describe(map, volume, held);
                    }
                }
                tx.Changes.Add(new MapChange
                {
                    VolumeLock = new VolumeLockChange { Volume = volume, Op = "acquire", Owner = identity, NodeId = nodeId, Description = holder },
                });
                try
                {
                    var reply = await _monitors.ProposeAsync(tx, cancellationToken).ConfigureAwait(false);
                    lock (_holders) _holders[volume] = holder;
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    wait.CancelAfter(TimeSpan.FromSeconds(10));
                    try
                    {
                        await _maps.WaitForEpochAsync(reply.Epoch, wait.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        // Without the epoch in its map the node cannot write under the lock: give it back.
                        lock (_holders) _holders.Remove(volume);
                        await ReleaseInMapAsync(volume, holder, identity, nodeId, CancellationToken.None).ConfigureAwait(false);
                        return $"volume {volume} was locked at epoch {reply.Epoch}, but this node's map did not reach that epoch in time";
                    }
                    _acquired(volume);
                    return null;
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Aborted && attempt < 5)
                {
                    await _maps.WaitForEpochAsync(map.Epoch + 1, cancellationToken).ConfigureAwait(false);
                }
                catch (RpcException e)
                {
                    return e.Detail;
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string Describe(ClusterMap map, string volume, VolumeLock held)
    {
        var owner = map.FindNode(held.NodeId);
        var where = owner is null ? "" : $" on node {owner.Name}{(owner.State == NodeState.Up ? "" : " (down)")}";
        var what = held.Description.Length > 0 ? $" for {held.Description}" : "";
        var fix = owner is { State: NodeState.Up }
            ? "stop that user first"
            : "its node is down: once it is fenced, break the lock (fabric volume lock break " + volume + ")";
        return $"volume {volume} is locked by {held.Owner}{what}{where}; {fix}";
    }

    public async ValueTask<string?> ReleaseAsync(string volume, string holder, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_holders)
            {
                if (!_holders.TryGetValue(volume, out var local) || local != holder) return null;
                _holders.Remove(volume);
                if (_handovers.TryGetValue(volume, out var handing) && handing == holder) return null;
            }
            var (nodeId, incarnation) = _self();
            return await ReleaseInMapAsync(volume, holder, MapLookup.NodeIdentity(nodeId, incarnation), nodeId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<string?> ReleaseInMapAsync(string volume, string holder, string identity, uint nodeId, CancellationToken cancellationToken)
    {
        // Bounded: a node that stops while its monitor is already gone must not hang on its releases.
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await _monitors.ApplyAsync($"unlock {volume} ({holder})", bounded.Token,
                new MapChange { VolumeLock = new VolumeLockChange { Volume = volume, Op = "release", Owner = identity, NodeId = nodeId } }).ConfigureAwait(false);
            return null;
        }
        catch (RpcException e)
        {
            _log.LogWarning("Releasing the lock of volume {Volume} ({Holder}) failed: {Error}", volume, holder, e.Detail);
            return e.Detail;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _log.LogWarning("Releasing the lock of volume {Volume} ({Holder}) timed out: no monitor answered", volume, holder);
            return "no monitor answered the release";
        }
    }
}
