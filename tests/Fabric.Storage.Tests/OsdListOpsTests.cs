using Fabric.Client.Messaging;
using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Tests.Shared;

namespace Fabric.Storage.Tests;

/// <summary>
/// The ListOps RPC's answer (`fabric osd ops`): the ops an OSD holds, oldest first, with what each waits for in the
/// snake_case names the CLI shows, cut at the limit with the total still counted, and the resend counters.
/// </summary>
public sealed class OsdListOpsTests
{
    private static readonly OsdOptions Options = new() { ScrubIntervalMs = 0, DeepScrubIntervalMs = 0 };

    [Fact]
    public void Writes_waiting_below_min_replicas_are_listed_oldest_first_with_what_they_wait_for()
    {
        var pair = new OsdPair(Options, new ListLogger(), osd2Up: false);
        string name = pair.ObjectLedBy1();
        ClientOp first = pair.Write(name, 4096);
        pair.Tick(1500);
        ClientOp second = pair.Write(name, 4096);
        pair.Tick(500);
        DataBuffer data = DataBuffer.CopyOf(new byte[4096]);
        ClientOp resent = pair.Resend(first, data);
        data.Release();
        Assert.Empty(pair.Replies);

        ListOsdOpsReply all = pair.Core(1).ListOps(new ListOsdOpsRequest());
        Assert.Equal(1, all.Osd);
        Assert.Equal(2u, all.Matched);
        Assert.Equal(1ul, all.MergedResends);
        Assert.Equal(0ul, all.RefusedRequestIds);
        Assert.Equal(2, all.Ops.Count);
        OsdOpInFlight oldest = all.Ops[0];
        Assert.Equal(resent.Tid, oldest.Tid); // The first copy, answering at the resend's transaction id.
        Assert.Equal(second.Tid, all.Ops[1].Tid);
        Assert.Equal("write", oldest.Kind);
        Assert.Equal(name, oldest.Object);
        Assert.Equal(pair.PgOf(name).ToString(), oldest.Pg);
        Assert.Equal("min_replicas", oldest.Wait);
        Assert.Contains("min_replicas", oldest.Detail);
        Assert.Equal(2.0, oldest.AgeSeconds, 3);
        Assert.Equal(0.5, all.Ops[1].AgeSeconds, 3);

        ListOsdOpsReply limited = pair.Core(1).ListOps(new ListOsdOpsRequest { Limit = 1 });
        Assert.Equal(2u, limited.Matched);
        Assert.Single(limited.Ops);
        Assert.Equal(2.0, limited.Ops[0].AgeSeconds, 3);

        ListOsdOpsReply old = pair.Core(1).ListOps(new ListOsdOpsRequest { OlderThanSeconds = 1 });
        Assert.Equal(1u, old.Matched);

        pair.ChangeMap(map => map.Nodes.Single(n => n.Id == 2).State = NodeState.Up);
        Assert.Equal(2, pair.Replies.Count);
        Assert.Empty(pair.Core(1).ListOps(new ListOsdOpsRequest()).Ops);
    }

    [Theory]
    [InlineData(OsdOpKind.OsdOpWrite, "write")]
    [InlineData(OsdOpKind.OsdOpCopyUp, "copy_up")]
    [InlineData(OsdOpKind.OsdOpTrimClone, "trim_clone")]
    public void Kinds_are_named_without_their_prefix(OsdOpKind kind, string text) => Assert.Equal(text, OsdOpTexts.Kind(kind));

    [Theory]
    [InlineData(OsdOpWait.MinReplicas, "min_replicas")]
    [InlineData(OsdOpWait.ReplicaAcks, "replica_acks")]
    [InlineData(OsdOpWait.Peering, "peering")]
    [InlineData(OsdOpWait.NotHeld, "not_held")]
    public void Waits_are_named_in_snake_case(OsdOpWait wait, string text) => Assert.Equal(text, OsdOpTexts.Wait(wait));
}
