using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Simulation;

/// <summary>
/// A simple monitor with the real one's rules: a node that misses heartbeats for the grace period is
/// marked down, one down for down_out_interval is marked out; a heartbeat of an incarnation the monitor
/// marked down is answered "not known" and the node rejoins with a new incarnation (MonitorCore.Heartbeat,
/// NodeMembership), which marks it up and in, as does the first heartbeat of a restarted node (its new
/// incarnation stands for its join). Every change is a new epoch, delivered to every node and client in
/// order (like WatchMap), except across a partition from the monitor.
/// </summary>
public sealed class SimMonitor
{
    private readonly SimCluster _cluster;
    private readonly List<ClusterMap> _maps = new();
    private readonly Dictionary<int, long> _lastHeartbeatMs = new();
    private readonly Dictionary<int, long> _downSinceMs = new();

    public SimMonitor(SimCluster cluster, ClusterMap initial)
    {
        _cluster = cluster;
        _maps.Add(initial);
    }

    public ClusterMap Current => _maps[^1];

    public long GraceMs { get; set; } = 3000;

    public long DownOutMs { get; set; } = 20_000;

    public void Start()
    {
        foreach (NodeInfo node in Current.Nodes)
        {
            _lastHeartbeatMs[(int)node.Id] = _cluster.Scheduler.NowMs;
        }
        ScheduleCheck();
        SchedulePump();
    }

    /// <summary>
    /// A heartbeat (or, with an incarnation newer than the map's, a join): whether the monitor knows the node as
    /// that incarnation, or null when it did not get through (the node learns nothing).
    /// </summary>
    public bool? Heartbeat(int node, ulong incarnation)
    {
        if (!_cluster.Network.Connected(node, SimNetwork.MonitorEndpoint))
        {
            return null;
        }
        NodeInfo info = Current.Nodes.First(n => n.Id == (uint)node);
        if (incarnation < info.Incarnation || (incarnation == info.Incarnation && info.State != NodeState.Up))
        {
            return false; // Marked down (or superseded): that process must rejoin as a new incarnation.
        }
        _lastHeartbeatMs[node] = _cluster.Scheduler.NowMs;
        if (info.State != NodeState.Up || info.Incarnation != incarnation || !info.In)
        {
            Change(map =>
            {
                NodeInfo n = map.Nodes.First(x => x.Id == (uint)node);
                n.State = NodeState.Up;
                n.Incarnation = incarnation;
                n.UpSinceEpoch = map.Epoch;
                n.In = true;
            });
            _downSinceMs.Remove(node);
        }
        return true;
    }

    private void ScheduleCheck()
    {
        _cluster.Scheduler.After(500_000, () =>
        {
            long now = _cluster.Scheduler.NowMs;
            foreach (NodeInfo node in Current.Nodes.ToArray())
            {
                int id = (int)node.Id;
                if (node.State == NodeState.Up && now - _lastHeartbeatMs[id] > GraceMs)
                {
                    Change(map => map.Nodes.First(x => x.Id == node.Id).State = NodeState.Down);
                    _downSinceMs[id] = now;
                }
                else if (node.State == NodeState.Down && node.In && _downSinceMs.TryGetValue(id, out long since) && now - since > DownOutMs)
                {
                    Change(map => map.Nodes.First(x => x.Id == node.Id).In = false);
                }
            }
            ScheduleCheck();
        });
    }

    /// <summary>
    /// A map change proposed by a client (volume lock, snapshot, blocklist), validated by the real
    /// <see cref="MapTransactions"/>; the new epoch, or 0 and the reason when refused.
    /// </summary>
    public (ulong Epoch, string? Error) Propose(params MapChange[] changes)
    {
        var transaction = new MapTransaction();
        transaction.Changes.AddRange(changes);
        MapApplyResult result = MapTransactions.Apply(Current, transaction, _cluster.Scheduler.NowMs);
        if (result.Map is null)
        {
            return (0, result.Error!.Message);
        }
        _maps.Add(result.Map);
        return (result.Map.Epoch, null);
    }

    /// <summary>The map of one epoch (for checkers).</summary>
    public ClusterMap MapAt(ulong epoch) => _maps[(int)Math.Clamp(epoch, 1, (ulong)_maps.Count) - 1];

    private void Change(Action<ClusterMap> change)
    {
        ClusterMap next = Current.Clone();
        next.Epoch++;
        change(next);
        _maps.Add(next);
    }

    /// <summary>Delivers missed maps, in order, to every reachable node and client.</summary>
    private void SchedulePump()
    {
        _cluster.Scheduler.After(50_000, () =>
        {
            foreach (SimNode node in _cluster.Nodes.Values)
            {
                if (!node.Alive || !_cluster.Network.Connected(node.Id, SimNetwork.MonitorEndpoint))
                {
                    continue;
                }
                // A (re)started node's watch begins at the current map; a running one gets every epoch.
                ulong from = node.DeliveredEpoch == 0 ? Current.Epoch : node.DeliveredEpoch + 1;
                for (ulong e = from; e <= Current.Epoch; e++)
                {
                    node.Core!.OnMap(_maps[(int)e - 1]);
                }
                node.DeliveredEpoch = Current.Epoch;
            }
            foreach (SimClient client in _cluster.Clients)
            {
                if (client.Client.Epoch < Current.Epoch && _cluster.Network.Connected(client.Endpoint, SimNetwork.MonitorEndpoint))
                {
                    client.Client.OnMap(Current);
                }
            }
            SchedulePump();
        });
    }
}
