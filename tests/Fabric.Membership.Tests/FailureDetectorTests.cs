using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Membership.Tests;

/// <summary>The failure detector on simulated time: grace, peer reports, down-out, flap damping.</summary>
public sealed class FailureDetectorTests
{
    [Fact]
    public void A_silent_node_is_marked_down_after_the_grace_and_not_before()
    {
        var h = new MonitorHarness(graceMs: 3000);
        var n1 = h.Join("n1", "127.0.0.1:7000");
        var n2 = h.Join("n2", "127.0.0.2:7000");

        h.Run(TimeSpan.FromSeconds(2.8), n1);
        Assert.Equal(NodeState.Up, h.Node("n2").State);
        var epochBefore = h.Map.Epoch;

        h.Run(TimeSpan.FromSeconds(0.4), n1);
        Assert.Equal(NodeState.Down, h.Node("n2").State);
        Assert.Contains("no heartbeat", h.Node("n2").StateReason);
        Assert.Equal(epochBefore + 1, h.Map.Epoch);
        Assert.Equal(NodeState.Up, h.Node("n1").State);
    }

    [Fact]
    public void A_heartbeating_node_stays_up_indefinitely()
    {
        var h = new MonitorHarness();
        var n1 = h.Join("n1", "127.0.0.1:7000");
        var epoch = h.Map.Epoch;
        h.Run(TimeSpan.FromMinutes(5), n1);
        Assert.Equal(NodeState.Up, h.Node("n1").State);
        Assert.Equal(epoch, h.Map.Epoch);
    }

    [Fact]
    public void A_peer_report_marks_a_node_down_early_only_when_the_monitor_also_misses_it()
    {
        var h = new MonitorHarness(graceMs: 20000);
        var n1 = h.Join("n1", "127.0.0.1:7000");
        var n2 = h.Join("n2", "127.0.0.2:7000");

        // n2 still heartbeats: a report alone does not convict it.
        h.Monitor.ReportFailure(new FailureReport { ReporterNodeId = n1.NodeId, FailedNodeId = n2.NodeId, Reason = "replication timeout" });
        h.Run(TimeSpan.FromSeconds(1), n1, n2);
        Assert.Equal(NodeState.Up, h.Node("n2").State);

        // n2 goes silent; a report after two intervals convicts it long before the 20 s grace.
        h.Run(TimeSpan.FromSeconds(1.2), n1);
        h.Monitor.ReportFailure(new FailureReport { ReporterNodeId = n1.NodeId, FailedNodeId = n2.NodeId, Reason = "replication timeout" });
        h.Run(TimeSpan.FromMilliseconds(200), n1);
        Assert.Equal(NodeState.Down, h.Node("n2").State);
        Assert.Contains("reported by node 1", h.Node("n2").StateReason);
    }

    [Fact]
    public void A_down_node_is_marked_out_after_the_down_out_interval_and_in_again_when_it_rejoins()
    {
        var h = new MonitorHarness(graceMs: 3000, downOutMs: 60000);
        var n1 = h.Join("n1", "127.0.0.1:7000");
        h.Join("n2", "127.0.0.2:7000");
        h.Run(TimeSpan.FromSeconds(4), n1);
        Assert.Equal(NodeState.Down, h.Node("n2").State);
        Assert.True(h.Node("n2").In);

        h.Run(TimeSpan.FromSeconds(55), n1);
        Assert.True(h.Node("n2").In);
        h.Run(TimeSpan.FromSeconds(6), n1);
        Assert.False(h.Node("n2").In);

        var again = h.Join("n2", "127.0.0.2:7000");
        Assert.Equal(NodeState.Up, h.Node("n2").State);
        Assert.True(h.Node("n2").In);
        Assert.Equal(2ul, again.Incarnation);
    }

    [Fact]
    public async Task An_operator_out_is_not_undone_by_a_rejoin()
    {
        var h = new MonitorHarness();
        h.Join("n1", "127.0.0.1:7000");
        var tx = new MapTransaction();
        tx.Changes.Add(new MapChange { NodeInOut = new NodeInOut { NodeId = 1, In = false, ByOperator = true } });
        Assert.Null((await h.Monitor.ProposeAsync(tx, CancellationToken.None)).Error);
        h.Join("n1", "127.0.0.1:7000");
        Assert.False(h.Node("n1").In);
    }

    [Fact]
    public void A_flapping_node_is_held_down_until_it_has_been_stable()
    {
        var h = new MonitorHarness(graceMs: 3000);
        var n1 = h.Join("n1", "127.0.0.1:7000");
        JoinReply n2 = h.Join("n2", "127.0.0.2:7000");
        // Three quick flaps: join, go silent past the grace, rejoin.
        for (int i = 0; i < 3; i++)
        {
            h.Run(TimeSpan.FromSeconds(3.5), n1);
            Assert.Equal(NodeState.Down, h.Node("n2").State);
            n2 = h.Join("n2", "127.0.0.2:7000");
        }
        // The third rejoin is held down although the node is alive.
        Assert.Equal(NodeState.Down, h.Node("n2").State);
        Assert.Contains("flapping", h.Node("n2").StateReason);
        var heartbeat = h.Monitor.Heartbeat(new HeartbeatRequest { NodeId = n2.NodeId, Incarnation = n2.Incarnation });
        Assert.True(heartbeat.Known);

        // It keeps heartbeating: once the penalty decays it comes up without another join.
        h.Run(TimeSpan.FromSeconds(30), n1, n2);
        Assert.Equal(NodeState.Down, h.Node("n2").State);
        h.Run(TimeSpan.FromSeconds(120), n1, n2);
        Assert.Equal(NodeState.Up, h.Node("n2").State);
        Assert.Equal("flap damping ended", h.Node("n2").StateReason);
    }

    [Fact]
    public void A_rejoined_node_is_not_marked_down_by_a_tick_that_runs_before_the_detector_is_told_of_the_join()
    {
        var h = new MonitorHarness(graceMs: 3000);
        var n1 = h.Join("n1", "127.0.0.1:7000");
        h.Join("n2", "127.0.0.2:7000");
        h.Run(TimeSpan.FromSeconds(6), n1);
        Assert.Equal(NodeState.Down, h.Node("n2").State);

        // n2 restarts and joins: its join's map is committed and current before JoinAsync tells the detector
        // (OnJoin), and the monitor's tick runs on its own loop; here it runs on that map in between.
        var tx = new MapTransaction();
        tx.Changes.Add(new MapChange { NodeUpsert = new NodeUpsert { Node = new NodeInfo { Name = "n2", GrpcAddress = "127.0.0.2:7000", DataAddress = "127.0.0.1", CapacityBytes = 1UL << 40 } } });
        var joined = MapTransactions.Apply(h.Map, tx, h.Time.GetUtcNow().ToUnixTimeMilliseconds()).Map!;
        Assert.Equal(2ul, joined.FindNode("n2")!.Incarnation);
        Assert.DoesNotContain(h.Monitor.Detector.Evaluate(joined), c => c.NodeState?.NodeId == h.Node("n2").Id);
    }

    [Fact]
    public async Task A_down_decided_before_a_rejoin_and_committed_after_it_leaves_the_new_incarnation_up()
    {
        var h = new MonitorHarness(graceMs: 3000);
        var n1 = h.Join("n1", "127.0.0.1:7000");
        h.Join("n2", "127.0.0.2:7000");
        // n2 died and restarted within the grace's detection: the tick decides on the map with incarnation 1 up and
        // silent, and proposes after the restarted n2's join committed (incarnation 2).
        h.Time.Advance(TimeSpan.FromSeconds(4));
        h.Monitor.Heartbeat(new HeartbeatRequest { NodeId = n1.NodeId, Incarnation = n1.Incarnation });
        var decided = h.Monitor.Detector.Evaluate(h.Map);
        var down = Assert.Single(decided);
        Assert.Equal(NodeState.Down, down.NodeState.State);
        Assert.Equal(1ul, down.NodeState.Incarnation);
        var rejoined = h.Join("n2", "127.0.0.2:7000");
        Assert.Equal(2ul, rejoined.Incarnation);

        var tx = new MapTransaction { Reason = "failure detector" };
        tx.Changes.AddRange(decided);
        var outcome = await h.Monitor.ProposeAsync(tx, CancellationToken.None);
        Assert.Null(outcome.Error);
        Assert.Equal(NodeState.Up, h.Node("n2").State);
        Assert.True(h.Monitor.Heartbeat(new HeartbeatRequest { NodeId = rejoined.NodeId, Incarnation = rejoined.Incarnation }).Known);
    }

    [Fact]
    public void A_heartbeat_from_an_old_incarnation_is_told_to_rejoin()
    {
        var h = new MonitorHarness();
        var first = h.Join("n1", "127.0.0.1:7000");
        h.Join("n1", "127.0.0.1:7000");
        var reply = h.Monitor.Heartbeat(new HeartbeatRequest { NodeId = first.NodeId, Incarnation = first.Incarnation });
        Assert.False(reply.Known);
    }
    [Fact]
    public void Heartbeats_reports_and_joins_on_many_threads_while_the_tick_evaluates_neither_throw_nor_lose_a_node()
    {
        // The monitor calls the detector from RPC threads (heartbeats, reports, joins) and from its tick at once.
        var h = new MonitorHarness(graceMs: 3000);
        var nodes = Enumerable.Range(1, 40).Select(i => h.Join($"n{i}", $"127.0.1.{i}:7000")).ToArray();
        var detector = h.Monitor.Detector;
        var map = h.Map;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        using var stop = new CancellationTokenSource();
        var threads = Enumerable.Range(0, 6).Select(t => new Thread(() =>
        {
            try
            {
                for (int round = 0; !stop.IsCancellationRequested; round++)
                {
                    foreach (var node in nodes)
                    {
                        detector.OnHeartbeat(node.NodeId, node.Incarnation);
                        // New entries too (ids the map does not know yet), as joins and reports of strangers make.
                        detector.OnPeerReport(node.NodeId, (uint)(1000 + t * 100_000 + round % 5000), "stress");
                    }
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        try
        {
            for (int i = 0; i < 2000; i++)
            {
                Assert.Empty(detector.Evaluate(map));
                if (i % 100 == 0)
                {
                    detector.Reset(map);
                }
                _ = detector.IsHeldDown(nodes[i % nodes.Length].NodeId);
            }
        }
        finally
        {
            stop.Cancel();
            threads.ForEach(t => t.Join());
        }
        Assert.Empty(failures);
        Assert.Empty(detector.Evaluate(map));
    }
}
