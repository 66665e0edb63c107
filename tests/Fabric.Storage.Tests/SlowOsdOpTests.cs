using Fabric.Client.Objects;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Tests.Shared;
using Microsoft.Extensions.Logging;

namespace Fabric.Storage.Tests;

/// <summary>
/// Slow-op reports of the OSD (OsdCore.SlowOps.cs): a client op the primary accepted and cannot answer yet shows
/// up in <see cref="OsdCore.SlowOps"/> once older than the threshold, with its object, PG, PG state and what it
/// waits for (replica acknowledgements and from whom, min_replicas, peering), is logged once per threshold
/// crossing, and leaves the list when it is answered. Two OSD cores on one thread (<see cref="OsdPair"/>), time
/// moved by hand.
/// </summary>
public sealed class SlowOsdOpTests
{
    private const long ThresholdMs = 2000;
    private static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(ThresholdMs);
    private static readonly OsdOptions Options = new() { SlowOpMs = ThresholdMs, ScrubIntervalMs = 0, DeepScrubIntervalMs = 0 };

    private static string[] SlowLines(ListLogger log) =>
        log.Entries.Where(e => e.Level == LogLevel.Warning && e.Line.Contains("slow op ")).Select(e => e.Line).ToArray();

    [Fact]
    public void A_write_whose_replica_never_acknowledges_is_reported_naming_that_replica_and_leaves_the_list_once_acknowledged()
    {
        var log = new ListLogger();
        var pair = new OsdPair(Options, log);
        Assert.True(pair.Core(1).AllPrimaryPgsClean());
        string name = pair.ObjectLedBy1();
        pair.Hold = (from, _, type) => from == 2 && type == StorageMessageType.MsgRepOpReply;

        ClientOp op = pair.Write(name, 4096);
        Assert.Empty(pair.Replies);
        Assert.Empty(pair.Core(1).SlowOps(Threshold));
        pair.Tick(0); // The first tick checks at once; the next check is due a threshold later, when the op crosses it.
        pair.Tick(ThresholdMs - 1);
        Assert.Empty(pair.Core(1).SlowOps(Threshold));
        Assert.Empty(SlowLines(log));

        pair.Tick(1);
        SlowOsdOp slow = Assert.Single(pair.Core(1).SlowOps(Threshold));
        Assert.Equal(name, slow.Object);
        Assert.Equal(pair.PgOf(name), slow.Pg);
        Assert.Equal(OsdOpWait.ReplicaAcks, slow.Wait);
        Assert.Contains("replicas not acked: osd.2 for version", slow.Detail); // Our own commit is durable: only osd.2 is named.
        Assert.StartsWith("active", slow.PgState);
        Assert.Equal("client.test", slow.Client);
        Assert.Equal(op.Tid, slow.Tid);
        Assert.Equal(OsdOpKind.OsdOpWrite, slow.Kind);
        Assert.Equal(pair.Map.Epoch, slow.OpEpoch);
        Assert.Equal(pair.Map.Epoch, slow.OsdEpoch);
        Assert.Equal(Threshold, slow.Age);
        Assert.Equal(Threshold, pair.Core(1).OldestOpAge);
        // `fabric status` gets them from the OSD's status (SLOW_OPS).
        var status = pair.Core(1).GetStatus();
        Assert.Equal(1u, status.SlowOps);
        Assert.Equal(Threshold.TotalSeconds, status.OldestSlowOpSeconds);
        Assert.Contains($"OsdOpWrite {name} from client.test", status.OldestSlowOp);
        Assert.Contains("replicas not acked: osd.2", status.OldestSlowOp);
        Assert.Empty(pair.Core(2).SlowOps(TimeSpan.Zero)); // The replica tracks client ops only, and it has none.
        string line = Assert.Single(SlowLines(log));
        Assert.Contains($"osd.1: slow op OsdOpWrite {name} from client.test tid {op.Tid}, pg {pair.PgOf(name)} active", line);
        Assert.Contains("blocked for 2 s: waiting for replicas not acked: osd.2", line);
        Assert.Contains($"op map epoch {pair.Map.Epoch}, osd map epoch {pair.Map.Epoch}", line);
        Assert.Contains(log.Lines, l => l == "osd.1: 1 slow ops, oldest one blocked for 2 s");

        // Once per threshold crossing (checked by hand here, not only when the tick's interval says).
        pair.Core(1).CheckSlowOps();
        pair.Tick(ThresholdMs - 1);
        pair.Core(1).CheckSlowOps();
        Assert.Single(SlowLines(log));
        pair.Tick(1);
        pair.Core(1).CheckSlowOps();
        Assert.Equal(2, SlowLines(log).Length);

        pair.Release();
        ClientOpReply reply = Assert.Single(pair.Replies);
        Assert.Equal(OsdStatus.Ok, reply.Status);
        Assert.Equal(op.Tid, reply.Tid);
        Assert.Empty(pair.Core(1).SlowOps(TimeSpan.Zero));
        Assert.Equal(TimeSpan.Zero, pair.Core(1).OldestOpAge);
        Assert.Equal(0u, pair.Core(1).GetStatus().SlowOps);
        pair.Tick(10 * ThresholdMs);
        Assert.Equal(2, SlowLines(log).Length);
    }

    [Fact]
    public void Writes_to_a_pg_below_min_replicas_are_reported_as_such_and_answered_once_the_replica_is_up()
    {
        var log = new ListLogger();
        var pair = new OsdPair(Options, log, osd2Up: false);
        string name = pair.ObjectLedBy1();
        ClientOp first = pair.Write(name, 4096);
        // Eleven more, past the lines one check logs in detail.
        for (int i = 0; i < 11; i++)
        {
            pair.Write(name, 512);
        }
        Assert.Empty(pair.Replies);

        pair.Tick(ThresholdMs);
        IReadOnlyList<SlowOsdOp> slow = pair.Core(1).SlowOps(Threshold);
        Assert.Equal(12, slow.Count);
        Assert.All(slow, s => Assert.Equal(OsdOpWait.MinReplicas, s.Wait));
        Assert.Equal(first.Tid, slow[0].Tid); // Oldest first.
        Assert.Equal(name, slow[0].Object);
        Assert.Equal("undersized+degraded+peered", slow[0].PgState);
        Assert.Contains("1 of min 2 replicas up (acting [1])", slow[0].Detail);
        Assert.Equal(SlowOpThreshold.MaxLinesPerCheck, SlowLines(log).Length);
        Assert.Contains("waiting for min_replicas: 1 of min 2 replicas up", SlowLines(log)[0]);
        Assert.Contains(log.Lines, l => l.Contains("osd.1: 12 slow ops, oldest one blocked for 2 s (2 more crossed the threshold, not shown)"));

        pair.ChangeMap(map => map.Nodes.Single(n => n.Id == 2).State = NodeState.Up);
        Assert.Equal(12, pair.Replies.Count);
        Assert.All(pair.Replies, r => Assert.Equal(OsdStatus.Ok, r.Status));
        Assert.Empty(pair.Core(1).SlowOps(TimeSpan.Zero));
    }

    [Fact]
    public void A_write_held_while_the_pg_peers_with_a_restarted_replica_names_the_replica_that_has_not_answered()
    {
        var log = new ListLogger();
        var pair = new OsdPair(Options, log);
        string name = pair.ObjectLedBy1();
        // osd.2 restarts (a new incarnation: a new interval) and its answers are slow to come.
        pair.Hold = (from, _, _) => from == 2;
        pair.ChangeMap(map => map.Nodes.Single(n => n.Id == 2).Incarnation = 2);
        ClientOp op = pair.Write(name, 4096);

        pair.Tick(ThresholdMs);
        SlowOsdOp slow = Assert.Single(pair.Core(1).SlowOps(Threshold));
        Assert.Equal(op.Tid, slow.Tid);
        Assert.Equal(OsdOpWait.Peering, slow.Wait);
        Assert.Equal("peering", slow.PgState);
        Assert.Contains("PG queries unanswered by osd.2", slow.Detail);
        Assert.Contains(SlowLines(log), l => l.Contains(name) && l.Contains("pg " + pair.PgOf(name) + " peering") && l.Contains("waiting for peering"));

        pair.Release();
        Assert.Equal(OsdStatus.Ok, Assert.Single(pair.Replies).Status);
        Assert.Empty(pair.Core(1).SlowOps(TimeSpan.Zero));
    }

    [Theory]
    [InlineData(null, 30_000L)]
    [InlineData("45", 45_000L)]
    [InlineData("0", 0L)]
    public void The_osd_threshold_comes_from_FABRIC_SLOW_OP_SECONDS(string? text, long expectedMs) =>
        Assert.Equal(expectedMs, OsdOptions.FromEnvironment(name => name == "FABRIC_SLOW_OP_SECONDS" ? text : null).SlowOpMs);

    [Fact]
    public void A_bad_osd_threshold_is_an_error_naming_the_variable()
    {
        var e = Assert.Throws<FormatException>(() => OsdOptions.FromEnvironment(name => name == "FABRIC_SLOW_OP_SECONDS" ? "half a minute" : null));
        Assert.Contains("FABRIC_SLOW_OP_SECONDS", e.Message);
    }
}
