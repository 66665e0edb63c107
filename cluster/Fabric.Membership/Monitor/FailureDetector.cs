using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Membership.Monitor;

/// <summary>
/// Decides, from heartbeats and peer reports, which nodes to mark down, out, and (after damping) up.
/// </summary>
/// <remarks>
/// Contract: runs only on the active monitor. Thread-safe: heartbeats, peer reports and joins arrive on RPC threads
/// while the monitor's tick evaluates (every method takes one lock; none waits on anything under it). It never
/// changes the map itself: <see cref="Evaluate"/> returns the changes to propose, and the monitor
/// applies them as a transaction like any other. All time comes from the injected TimeProvider, so
/// tests drive it by hand. Rules:
/// <list type="bullet">
/// <item>an up node not heard from for the map's heartbeat grace is marked down;</item>
/// <item>a peer report marks a node down early, when the monitor has not heard from it for
/// <see cref="FailureDetectorOptions.PeerReportIntervals"/> heartbeat intervals either;</item>
/// <item>a node down for the map's down_out_interval is marked out (unless an operator marked it
/// out, or it is already out);</item>
/// <item>flap damping: every mark-down adds a decaying penalty; a node whose penalty is above the
/// suppress level is held down when it rejoins, and marked up once the penalty decays below the
/// reuse level while it keeps heartbeating.</item>
/// </list>
/// </remarks>
public sealed class FailureDetector
{
    private readonly FailureDetectorOptions _options;
    private readonly TimeProvider _time;
    private readonly Dictionary<uint, NodeHealth> _nodes = new();
    private readonly object _gate = new();

    public FailureDetector(FailureDetectorOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    private sealed class NodeHealth
    {
        public DateTimeOffset LastHeard;
        public ulong Incarnation;
        public double Penalty;
        public DateTimeOffset PenaltyAt;
        public bool HeldDown;
        public uint LastReporter;
        public string PendingReport = "";
    }

    /// <summary>Starts afresh from a map (on becoming the active monitor): every node counts as just
    /// heard from, so a new active monitor never marks nodes down for the previous one's silence.</summary>
    public void Reset(ClusterMap map)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var penalties = _nodes.ToDictionary(p => p.Key, p => (p.Value.Penalty, p.Value.PenaltyAt));
            _nodes.Clear();
            foreach (var node in map.Nodes)
            {
                var health = Get(node.Id, now);
                health.Incarnation = node.Incarnation;
                if (penalties.TryGetValue(node.Id, out var p)) (health.Penalty, health.PenaltyAt) = p;
            }
        }
    }

    private NodeHealth Get(uint nodeId, DateTimeOffset now)
    {
        if (!_nodes.TryGetValue(nodeId, out var health))
        {
            health = new NodeHealth { LastHeard = now, PenaltyAt = now };
            _nodes[nodeId] = health;
        }
        return health;
    }

    public void OnHeartbeat(uint nodeId, ulong incarnation)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var health = Get(nodeId, now);
            if (incarnation >= health.Incarnation)
            {
                health.Incarnation = incarnation;
                health.LastHeard = now;
            }
        }
    }

    /// <summary>A node (re)joined with a new incarnation: it counts as heard from now.</summary>
    public void OnJoin(uint nodeId, ulong incarnation) => OnHeartbeat(nodeId, incarnation);

    public void OnPeerReport(uint reporterNodeId, uint failedNodeId, string reason)
    {
        lock (_gate)
        {
            var health = Get(failedNodeId, _time.GetUtcNow());
            health.LastReporter = reporterNodeId;
            health.PendingReport = reason;
        }
    }

    /// <summary>True when a rejoining node must be held down because it flapped.</summary>
    public bool IsHeldDown(uint nodeId)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var health = Get(nodeId, now);
            return DecayedPenalty(health, now) >= _options.SuppressPenalty || (health.HeldDown && DecayedPenalty(health, now) >= _options.ReusePenalty);
        }
    }

    public double PenaltyOf(uint nodeId)
    {
        lock (_gate) return _nodes.TryGetValue(nodeId, out var h) ? DecayedPenalty(h, _time.GetUtcNow()) : 0;
    }

    private double DecayedPenalty(NodeHealth health, DateTimeOffset now)
    {
        var elapsed = (now - health.PenaltyAt).TotalSeconds;
        if (elapsed <= 0) return health.Penalty;
        return health.Penalty * Math.Pow(0.5, elapsed / _options.PenaltyHalfLife.TotalSeconds);
    }

    private void AddPenalty(NodeHealth health, DateTimeOffset now)
    {
        health.Penalty = DecayedPenalty(health, now) + _options.PenaltyPerDown;
        health.PenaltyAt = now;
    }

    /// <summary>Marks that a rejoining node was held down (so it needs the reuse level to come up).</summary>
    public void MarkHeldDown(uint nodeId)
    {
        lock (_gate) Get(nodeId, _time.GetUtcNow()).HeldDown = true;
    }

    /// <summary>The changes the map needs now. Call periodically (every ~100 ms) and after reports.</summary>
    public List<MapChange> Evaluate(ClusterMap map)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var nowMs = now.ToUnixTimeMilliseconds();
            var settings = map.Settings;
            var grace = TimeSpan.FromMilliseconds(settings.HeartbeatGraceMs);
            var reportWindow = TimeSpan.FromMilliseconds(settings.HeartbeatIntervalMs * _options.PeerReportIntervals);
            var changes = new List<MapChange>();
            foreach (var node in map.Nodes)
            {
                var health = Get(node.Id, now);
                if (node.Incarnation > health.Incarnation)
                {
                    // A join this detector has not been told of yet: MonitorCore.JoinAsync calls OnJoin once the join's map
                    // is committed and current, and a tick in between saw the new incarnation up with the old one's last
                    // heartbeat, older than the grace after a restart, and marked it down at once (a node restarted after
                    // kill -9 was down again 2 ms after its join and had to rejoin a second time). A join counts as heard.
                    health.Incarnation = node.Incarnation;
                    health.LastHeard = now;
                }
                var silent = now - health.LastHeard;
                if (node.State == NodeState.Up)
                {
                    string? reason = null;
                    if (silent > grace)
                    {
                        reason = $"no heartbeat for {silent.TotalSeconds:0.0} s (grace {grace.TotalSeconds:0.#} s)";
                    }
                    else if (health.PendingReport.Length > 0 && silent > reportWindow && IsUp(map, health.LastReporter))
                    {
                        reason = $"reported by node {health.LastReporter} ({health.PendingReport}) and no heartbeat for {silent.TotalMilliseconds:0} ms";
                    }
                    health.PendingReport = "";
                    if (reason is not null)
                    {
                        AddPenalty(health, now);
                        // With the incarnation judged: a join that commits before this change leaves the new one up.
                        changes.Add(new MapChange { NodeState = new NodeStateChange { NodeId = node.Id, State = NodeState.Down, Reason = reason, Incarnation = node.Incarnation } });
                    }
                    continue;
                }

                health.PendingReport = "";
                if (node.State == NodeState.Down)
                {
                    // A held-down node that keeps heartbeating comes up once its penalty has decayed.
                    if (health.HeldDown && silent <= grace && health.Incarnation == node.Incarnation && DecayedPenalty(health, now) < _options.ReusePenalty)
                    {
                        health.HeldDown = false;
                        changes.Add(new MapChange { NodeState = new NodeStateChange { NodeId = node.Id, State = NodeState.Up, Reason = "flap damping ended", Incarnation = node.Incarnation } });
                        continue;
                    }
                    var downFor = nowMs - node.StateChangedUnixMs;
                    if (node.In && downFor >= settings.DownOutIntervalMs && !health.HeldDown)
                    {
                        changes.Add(new MapChange { NodeInOut = new NodeInOut { NodeId = node.Id, In = false, Reason = $"down for {downFor / 1000.0:0} s (down_out_interval {settings.DownOutIntervalMs / 1000.0:0} s)" } });
                    }
                }
            }
            return changes;
        }
    }

    private static bool IsUp(ClusterMap map, uint nodeId) => map.FindNode(nodeId)?.State == NodeState.Up;
}
