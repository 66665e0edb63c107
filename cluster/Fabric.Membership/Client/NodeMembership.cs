using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Microsoft.Extensions.Logging;

namespace Fabric.Membership.Client;

/// <summary>
/// A node's membership: joins the cluster, heartbeats at the map's interval, rejoins (with a new
/// incarnation, hence a new client identity) when the monitor no longer knows it, and reports peers
/// that stop answering.
/// </summary>
public sealed class NodeMembership : IAsyncDisposable
{
    private readonly MonitorClient _client;
    private readonly MapWatcher _watcher;
    private readonly JoinRequest _join;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private Task? _heartbeats;

    public NodeMembership(MonitorClient client, MapWatcher watcher, JoinRequest join, TimeProvider time, ILogger log)
    {
        _client = client;
        _watcher = watcher;
        _join = join;
        _time = time;
        _log = log;
    }

    public uint NodeId { get; private set; }

    public ulong Incarnation { get; private set; }

    /// <summary>"node.ID.INCARNATION": the identity storage sees on this node's writes and locks.</summary>
    public string Identity => MapLookup.NodeIdentity(NodeId, Incarnation);

    /// <summary>Raised after a rejoin gave the node a new incarnation (its old identity may be fenced).</summary>
    public event Action<ulong>? Rejoined;

    /// <summary>Joins, retrying while no monitor answers; a refusal (duplicate name, other cluster) throws.</summary>
    public async Task<JoinReply> JoinAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                var reply = await _client.JoinAsync(_join, cancellationToken).ConfigureAwait(false);
                NodeId = reply.NodeId;
                Incarnation = reply.Incarnation;
                _join.Fsid = reply.Map.Fsid;
                _watcher.Offer(reply.Map);
                _log.LogInformation("Joined cluster {Cluster} as node {Id} ({Name}), incarnation {Incarnation}, map epoch {Epoch}",
                    reply.Map.ClusterName, reply.NodeId, _join.Name, reply.Incarnation, reply.Map.Epoch);
                return reply;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                _log.LogInformation("Waiting for a monitor to accept the join: {Detail}", e.Detail);
                await Task.Delay(TimeSpan.FromMilliseconds(500), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void StartHeartbeats() => _heartbeats = Task.Run(() => HeartbeatLoopAsync(_stop.Token));

    private async Task HeartbeatLoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var interval = TimeSpan.FromMilliseconds(Math.Max(50, _watcher.Current?.Settings?.HeartbeatIntervalMs ?? 500));
            try
            {
                var reply = await _client.HeartbeatAsync(new HeartbeatRequest { NodeId = NodeId, Incarnation = Incarnation, Epoch = _watcher.Current?.Epoch ?? 0 }, stop).ConfigureAwait(false);
                if (!reply.Known)
                {
                    _log.LogWarning("The monitor marked this node down (incarnation {Incarnation}); rejoining", Incarnation);
                    await JoinAsync(stop).ConfigureAwait(false);
                    Rejoined?.Invoke(Incarnation);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException e)
            {
                _log.LogDebug("Heartbeat failed: {Status} {Detail}", e.StatusCode, e.Detail);
            }
            catch (Exception e)
            {
                _log.LogWarning("Heartbeat loop error: {Error}", e.Message);
            }
            try { await Task.Delay(interval, _time, stop).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
        }
    }

    public async Task ReportFailureAsync(uint failedNodeId, string reason, CancellationToken cancellationToken)
    {
        try
        {
            await _client.ReportFailureAsync(new FailureReport { ReporterNodeId = NodeId, FailedNodeId = failedNodeId, Reason = reason }, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            _log.LogDebug("Failure report about node {Node} not delivered: {Detail}", failedNodeId, e.Detail);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_heartbeats is not null)
        {
            try { await _heartbeats.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        _stop.Dispose();
    }
}
