using Fabric.Client.Objects;
using Fabric.Tests.Shared;
using Fabric.Core.Placement;
using Fabric.Proto;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Fabric.Client.Tests.Objects;

/// <summary>
/// Slow-op reports of the object client (ObjectClient.SlowOps.cs): an op that cannot complete shows up in
/// <see cref="ObjectClient.SlowOps"/> with its object, PG, last target and epoch, send count and what it waits for
/// once it is older than the threshold; it is logged once per threshold crossing; completing it takes it off the
/// list. Time is the fake transport's clock, moved by hand.
/// </summary>
public sealed class SlowOpTests
{
    private const long ThresholdMs = 2000;
    private static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(ThresholdMs);

    private sealed class FakeTransport : IClientTransport
    {
        public long NowMs { get; set; } = 1000;

        public List<(int Osd, ClientOp Op)> Sent { get; } = new();

        public void Send(int osd, NodeInfo node, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data) =>
            Sent.Add((osd, (ClientOp)header));
    }

    private static ClusterMap NewMap(ulong epoch, NodeState state)
    {
        var map = new ClusterMap { Epoch = epoch, ClusterName = "t", Fsid = "t", NextNodeId = 4, NextPoolId = 2, NextVolumeId = 1, NextSnapId = 1 };
        for (uint i = 1; i <= 3; i++)
        {
            map.Nodes.Add(new NodeInfo { Id = i, Name = $"n{i}", FailureDomain = $"h{i}", Weight = 1, State = state, In = true, Incarnation = 1, StorageAddress = $"127.0.0.{i}:6800" });
        }
        map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = 3, MinReplicas = 2, PgCount = 8, FailureDomain = "host" });
        return map;
    }

    private static (ObjectClient Client, FakeTransport Transport, ListLogger Log) NewClient(NodeState state = NodeState.Up, long slowOpMs = ThresholdMs)
    {
        var transport = new FakeTransport();
        var log = new ListLogger();
        // The resend timeout is far beyond the test's clock moves: every send counted below is one the test caused.
        var client = new ObjectClient("client.test", transport, resendTimeoutMs: 600_000, logger: log, slowOpMs: slowOpMs);
        client.OnMap(NewMap(5, state));
        return (client, transport, log);
    }

    private static ObjectRequest Write(string name) => new() { Pool = 1, Object = name, Kind = OsdOpKind.OsdOpWrite, Data = new byte[4096] };

    private static PgId PgOf(string name) => PlacementMap.ObjectToPg(NewMap(5, NodeState.Up).Pools[0], name);

    private static ClientOpReply Ok(ClientOp op) => new() { Tid = op.Tid, Status = OsdStatus.Ok, Version = 7, MapEpoch = 5 };

    private static string[] SlowLines(ListLogger log) =>
        log.Entries.Where(e => e.Level == LogLevel.Warning && e.Line.Contains("slow op ")).Select(e => e.Line).ToArray();

    [Fact]
    public void A_write_its_primary_never_answers_is_reported_after_the_threshold_and_leaves_the_list_once_answered()
    {
        var (client, transport, log) = NewClient();
        var results = new List<ObjectResult>();
        client.Submit(Write("vol.data.0001"), results.Add);
        (int osd, ClientOp sent) = Assert.Single(transport.Sent);

        client.Tick(); // The first check, at once: nothing is slow yet.
        Assert.Empty(client.SlowOps(Threshold));
        transport.NowMs += ThresholdMs - 1;
        client.Tick();
        Assert.Empty(client.SlowOps(Threshold));
        Assert.Empty(log.Lines);

        transport.NowMs += 1;
        Assert.Equal(Threshold, client.OldestOpAge);
        client.Tick(); // The next check is due: the op has just crossed the threshold.
        SlowObjectOp slow = Assert.Single(client.SlowOps(Threshold));
        Assert.Equal("vol.data.0001", slow.Object);
        Assert.Equal(PgOf("vol.data.0001"), slow.Pg);
        Assert.Equal(OsdOpKind.OsdOpWrite, slow.Kind);
        Assert.Equal(osd, slow.Osd);
        Assert.Equal(5UL, slow.Epoch);
        Assert.Equal(1, slow.Sends);
        Assert.Equal(sent.Tid, slow.Tid);
        Assert.Equal(Threshold, slow.Age);
        Assert.Equal(ObjectOpWait.Reply, slow.Wait);
        string line = Assert.Single(SlowLines(log));
        Assert.Contains("vol.data.0001", line);
        Assert.Contains($"pg {PgOf("vol.data.0001")} ", line);
        Assert.Contains($"last sent to osd.{osd} with map epoch 5 (1 sends, tid {sent.Tid})", line);
        Assert.Contains($"waiting for a reply from osd.{osd}", line);
        Assert.Contains(log.Lines, l => l == "client.test: 1 slow ops, oldest one blocked for 2 s");

        // Once per threshold crossing: checks before the next crossing add nothing, the crossing adds one line.
        client.CheckSlowOps();
        transport.NowMs += ThresholdMs - 1;
        client.CheckSlowOps();
        Assert.Single(SlowLines(log));
        transport.NowMs += 1;
        client.CheckSlowOps();
        Assert.Equal(2, SlowLines(log).Length);

        client.OnMessage(osd, StorageMessageType.MsgClientOpReply, Ok(sent), Fabric.Client.Messaging.DataBuffer.Empty);
        Assert.Equal(ObjectStatus.Ok, Assert.Single(results).Status);
        Assert.Empty(client.SlowOps(TimeSpan.Zero));
        Assert.Equal(TimeSpan.Zero, client.OldestOpAge);
        Assert.Equal(0, client.Outstanding);
        transport.NowMs += 10 * ThresholdMs;
        client.CheckSlowOps();
        Assert.Equal(2, SlowLines(log).Length);
    }

    [Fact]
    public void An_op_without_a_primary_is_reported_as_waiting_for_one_until_a_map_gives_it_one()
    {
        var (client, transport, log) = NewClient(NodeState.Down);
        var results = new List<ObjectResult>();
        client.Submit(Write("vol.data.0002"), results.Add);
        Assert.Empty(transport.Sent);

        transport.NowMs += ThresholdMs;
        client.CheckSlowOps();
        SlowObjectOp slow = Assert.Single(client.SlowOps(Threshold));
        Assert.Equal(ObjectOpWait.NoPrimary, slow.Wait);
        Assert.Equal(PgOf("vol.data.0002"), slow.Pg);
        Assert.Equal(-1, slow.Osd);
        Assert.Equal(0, slow.Sends);
        Assert.Contains("no member of pg", slow.Detail);
        Assert.Contains(SlowLines(log), l => l.Contains("vol.data.0002") && l.Contains("waiting for a primary"));

        client.OnMap(NewMap(6, NodeState.Up));
        (int osd, ClientOp sent) = Assert.Single(transport.Sent);
        slow = Assert.Single(client.SlowOps(Threshold));
        Assert.Equal(ObjectOpWait.Reply, slow.Wait);
        Assert.Equal(osd, slow.Osd);
        Assert.Equal(6UL, slow.Epoch);
        Assert.Equal(1, slow.Sends);
        Assert.Equal(Threshold, slow.Age); // Age counts from the submit, not from the send.

        client.OnMessage(osd, StorageMessageType.MsgClientOpReply, Ok(sent), Fabric.Client.Messaging.DataBuffer.Empty);
        Assert.Single(results);
        Assert.Empty(client.SlowOps(TimeSpan.Zero));
    }

    [Fact]
    public void The_reason_and_send_count_follow_the_op_through_a_lost_connection_and_a_newer_map_on_the_osd()
    {
        var (client, transport, _) = NewClient();
        client.Submit(Write("vol.data.0003"), _ => { });
        (int osd, ClientOp first) = transport.Sent[0];

        client.OnConnectionLost(osd);
        SlowObjectOp slow = Assert.Single(client.SlowOps(TimeSpan.Zero));
        Assert.Equal(ObjectOpWait.ConnectionLost, slow.Wait);
        Assert.Contains($"osd.{osd}", slow.Detail);

        transport.NowMs += 200; // The back-off after a lost connection.
        client.Tick();
        ClientOp second = transport.Sent[1].Op;
        slow = Assert.Single(client.SlowOps(TimeSpan.Zero));
        Assert.Equal(ObjectOpWait.Reply, slow.Wait);
        Assert.Equal(2, slow.Sends);
        Assert.Equal(second.Tid, slow.Tid);
        Assert.NotEqual(first.Tid, second.Tid);

        // The primary says it is not primary at our own epoch (its map is behind, or it does not take itself for up):
        // the op is retried every 50 ms, and the send count says how long that has gone on.
        client.OnMessage(osd, StorageMessageType.MsgClientOpReply, new ClientOpReply { Tid = second.Tid, Status = OsdStatus.NotPrimary, MapEpoch = 5 },
            Fabric.Client.Messaging.DataBuffer.Empty);
        slow = Assert.Single(client.SlowOps(TimeSpan.Zero));
        Assert.Equal(ObjectOpWait.OsdMapBehind, slow.Wait);
        Assert.Contains($"osd.{osd} to act as primary", slow.Detail);
        transport.NowMs += 50;
        client.Tick();
        ClientOp third = transport.Sent[2].Op;
        slow = Assert.Single(client.SlowOps(TimeSpan.Zero));
        Assert.Equal(ObjectOpWait.Reply, slow.Wait);
        Assert.Equal(3, slow.Sends);

        // The primary knows a newer map than the client: the op parks until the client has it.
        client.OnMessage(osd, StorageMessageType.MsgClientOpReply, new ClientOpReply { Tid = third.Tid, Status = OsdStatus.NotPrimary, MapEpoch = 9 },
            Fabric.Client.Messaging.DataBuffer.Empty);
        slow = Assert.Single(client.SlowOps(TimeSpan.Zero));
        Assert.Equal(ObjectOpWait.NewerMap, slow.Wait);
        Assert.Contains("map epoch 9", slow.Detail);
        Assert.Equal(3, slow.Sends);
    }

    [Fact]
    public void The_list_stays_in_submission_order_when_ops_complete_out_of_order()
    {
        var (client, transport, _) = NewClient();
        for (int i = 0; i < 3; i++)
        {
            client.Submit(Write($"vol.data.{i:x4}"), _ => { });
            transport.NowMs += 1000;
        }
        ClientOp[] sent = transport.Sent.Select(s => s.Op).ToArray();
        Assert.Equal(TimeSpan.FromSeconds(3), client.OldestOpAge);

        client.OnMessage(transport.Sent[1].Osd, StorageMessageType.MsgClientOpReply, Ok(sent[1]), Fabric.Client.Messaging.DataBuffer.Empty);
        Assert.Equal(["vol.data.0000", "vol.data.0002"], client.SlowOps(TimeSpan.Zero).Select(s => s.Object));
        Assert.Equal(["vol.data.0000"], client.SlowOps(TimeSpan.FromSeconds(2)).Select(s => s.Object));

        client.OnMessage(transport.Sent[0].Osd, StorageMessageType.MsgClientOpReply, Ok(sent[0]), Fabric.Client.Messaging.DataBuffer.Empty);
        Assert.Equal(TimeSpan.FromSeconds(1), client.OldestOpAge);
        client.Submit(Write("vol.data.0003"), _ => { });
        Assert.Equal(["vol.data.0002", "vol.data.0003"], client.SlowOps(TimeSpan.Zero).Select(s => s.Object));

        client.OnMessage(transport.Sent[2].Osd, StorageMessageType.MsgClientOpReply, Ok(sent[2]), Fabric.Client.Messaging.DataBuffer.Empty);
        client.OnMessage(transport.Sent[3].Osd, StorageMessageType.MsgClientOpReply, Ok(transport.Sent[3].Op), Fabric.Client.Messaging.DataBuffer.Empty);
        Assert.Empty(client.SlowOps(TimeSpan.Zero));
        Assert.Equal(TimeSpan.Zero, client.OldestOpAge);
    }

    [Fact]
    public void A_read_receiving_its_data_is_listed_until_the_data_is_in()
    {
        var (client, transport, _) = NewClient();
        var buffer = new byte[4096];
        var results = new List<ObjectResult>();
        client.Submit(new ObjectRequest { Pool = 1, Object = "vol.data.0004", Kind = OsdOpKind.OsdOpRead, Destination = buffer }, results.Add);
        ClientOp sent = transport.Sent[0].Op;
        var target = client.ClaimReadData(Ok(sent), buffer.Length)!;
        Assert.Equal(ObjectOpWait.ReplyData, Assert.Single(client.SlowOps(TimeSpan.Zero)).Wait);

        target.Complete(received: true);
        Assert.Single(results);
        Assert.Empty(client.SlowOps(TimeSpan.Zero));
    }

    [Fact]
    public void A_zero_threshold_logs_nothing_but_the_snapshot_still_lists_outstanding_ops()
    {
        var (client, transport, log) = NewClient(slowOpMs: 0);
        client.Submit(Write("vol.data.0005"), _ => { });
        transport.NowMs += 3_600_000;
        client.Tick();
        client.CheckSlowOps();
        Assert.Empty(log.Lines);
        Assert.Equal("vol.data.0005", Assert.Single(client.SlowOps(TimeSpan.FromMinutes(59))).Object);
    }

    [Theory]
    [InlineData(null, 30_000L)]
    [InlineData("", 30_000L)]
    [InlineData("30", 30_000L)]
    [InlineData("5", 5_000L)]
    [InlineData("0.25", 250L)]
    [InlineData("0", 0L)]
    public void The_threshold_comes_from_FABRIC_SLOW_OP_SECONDS(string? text, long expectedMs) =>
        Assert.Equal(expectedMs, SlowOpThreshold.FromEnvironment(name => name == "FABRIC_SLOW_OP_SECONDS" ? text : null));

    [Theory]
    [InlineData("soon")]
    [InlineData("-1")]
    [InlineData("NaN")]
    [InlineData("1e9")]
    public void A_threshold_that_does_not_parse_is_an_error_naming_the_variable(string text)
    {
        var e = Assert.Throws<FormatException>(() => SlowOpThreshold.FromEnvironment(name => name == "FABRIC_SLOW_OP_SECONDS" ? text : null));
        Assert.Contains("FABRIC_SLOW_OP_SECONDS", e.Message);
    }
}
