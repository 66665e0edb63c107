using Fabric.Client.Messaging;
using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Tests.Shared;

namespace Fabric.Storage.Tests;

/// <summary>
/// A client resends an op it has no answer for every few seconds (same request id, new transaction id). An OSD that
/// still holds the earlier copy keeps one copy per request: the newest takes the earlier one's place, its data
/// replaces (and frees) the earlier data, and the one reply goes to the newest transaction id. Before, every resend
/// queued beside the others with its own data, so a PG stuck for minutes under 4 MiB writes grew the node without
/// bound. Two OSD cores on one thread (<see cref="OsdPair"/>), time moved by hand.
/// </summary>
public sealed class ResentOpTests
{
    private static readonly OsdOptions Options = new() { ScrubIntervalMs = 0, DeepScrubIntervalMs = 0 };

    private static bool Freed(DataBuffer buffer)
    {
        try
        {
            _ = buffer.Span;
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    [Fact]
    public void Resends_of_a_write_waiting_for_min_replicas_leave_one_copy_with_the_newest_data_and_one_reply()
    {
        var pair = new OsdPair(Options, new ListLogger(), osd2Up: false);
        string name = pair.ObjectLedBy1();
        ClientOp first = pair.Write(name, 4096);
        Assert.Empty(pair.Replies);

        ClientOp last = first;
        var buffers = new List<DataBuffer>();
        for (int i = 1; i <= 50; i++)
        {
            DataBuffer data = DataBuffer.CopyOf(Enumerable.Repeat((byte)i, 4096).ToArray());
            last = pair.Resend(first, data);
            data.Release(); // The OSD's reference is the only one left.
            buffers.Add(data);
            // The copy before this one gave its data up.
            Assert.All(buffers.SkipLast(1), b => Assert.True(Freed(b)));
            Assert.False(Freed(data));
        }
        Assert.Empty(pair.Replies);
        Assert.Equal(50, pair.Core(1).MergedResends);
        Assert.Single(pair.Core(1).SlowOps(TimeSpan.Zero));

        pair.ChangeMap(map => map.Nodes.Single(n => n.Id == 2).State = NodeState.Up);
        ClientOpReply reply = Assert.Single(pair.Replies);
        Assert.Equal(OsdStatus.Ok, reply.Status);
        Assert.Equal(last.Tid, reply.Tid);
        Assert.True(Freed(buffers[^1])); // Released once the write was answered.
        Assert.Empty(pair.Core(1).SlowOps(TimeSpan.Zero));
        // What the object holds is the newest copy's data (the same bytes a real client resends).
        ClientOp read = pair.Read(name, 4096);
        Assert.Equal(Enumerable.Repeat((byte)50, 4096).ToArray(), pair.ReadData[read.Tid]);
    }

    [Fact]
    public void Resends_of_a_write_in_flight_are_answered_once_at_the_newest_transaction_id()
    {
        var pair = new OsdPair(Options, new ListLogger());
        string name = pair.ObjectLedBy1();
        pair.Hold = (from, _, type) => from == 2 && type == StorageMessageType.MsgRepOpReply;
        ClientOp first = pair.Write(name, 4096);
        ClientOp last = first;
        for (int i = 0; i < 20; i++)
        {
            DataBuffer data = DataBuffer.CopyOf(new byte[4096]);
            last = pair.Resend(first, data);
            data.Release();
            Assert.True(Freed(data)); // A started write keeps the data it replicates; the resend's is dropped at once.
        }
        Assert.Empty(pair.Replies);
        Assert.Equal(20, pair.Core(1).MergedResends);

        pair.Release();
        ClientOpReply reply = Assert.Single(pair.Replies);
        Assert.Equal(OsdStatus.Ok, reply.Status);
        Assert.Equal(last.Tid, reply.Tid);
        Assert.Empty(pair.Core(1).SlowOps(TimeSpan.Zero));
    }

    [Fact]
    public void A_copy_that_names_another_object_under_the_same_request_id_is_not_merged()
    {
        var pair = new OsdPair(Options, new ListLogger(), osd2Up: false);
        string name = pair.ObjectLedBy1();
        ClientOp first = pair.Write(name, 4096);
        ClientOp other = first.Clone();
        other.Object = name + "-other";
        other.PgSeed = pair.PgOf(other.Object).Seed;
        DataBuffer data = DataBuffer.CopyOf(new byte[4096]);
        pair.Resend(other, data);
        data.Release();
        Assert.Equal(0, pair.Core(1).MergedResends);
        Assert.Equal(2, pair.Core(1).SlowOps(TimeSpan.Zero).Count);
    }

    /// <summary>Another object of the same PG as <paramref name="name"/>.</summary>
    private static string SamePgOther(OsdPair pair, string name)
    {
        for (int i = 0; ; i++)
        {
            string other = $"{name}-other-{i}";
            if (pair.PgOf(other) == pair.PgOf(name))
            {
                return other;
            }
        }
    }

    [Fact]
    public void A_copy_that_names_another_object_under_the_id_of_a_write_in_flight_is_refused_not_answered_as_its_duplicate()
    {
        var pair = new OsdPair(Options, new ListLogger());
        string name = pair.ObjectLedBy1();
        pair.Hold = (from, _, type) => from == 2 && type == StorageMessageType.MsgRepOpReply;
        ClientOp first = pair.Write(name, 4096);
        ClientOp impostor = first.Clone();
        impostor.Object = SamePgOther(pair, name);
        DataBuffer data = DataBuffer.CopyOf(new byte[4096]);
        ClientOp sent = pair.Resend(impostor, data);
        data.Release();

        ClientOpReply refused = Assert.Single(pair.Replies);
        Assert.Equal(sent.Tid, refused.Tid);
        Assert.Equal(OsdStatus.Invalid, refused.Status);
        Assert.Contains("request id", refused.Error);
        Assert.Contains(name, refused.Error);

        pair.Release();
        Assert.Equal(2, pair.Replies.Count);
        Assert.Equal(first.Tid, pair.Replies[1].Tid);
        Assert.Equal(OsdStatus.Ok, pair.Replies[1].Status);
    }

    [Fact]
    public void A_copy_that_names_another_object_under_the_id_of_a_logged_write_is_refused_and_writes_nothing()
    {
        var pair = new OsdPair(Options, new ListLogger());
        string name = pair.ObjectLedBy1();
        ClientOp first = pair.Write(name, 4096);
        Assert.Equal(OsdStatus.Ok, Assert.Single(pair.Replies).Status);

        ClientOp impostor = first.Clone();
        impostor.Object = SamePgOther(pair, name);
        DataBuffer data = DataBuffer.CopyOf(Enumerable.Repeat((byte)7, 4096).ToArray());
        ClientOp sent = pair.Resend(impostor, data);
        data.Release();
        ClientOpReply refused = pair.Replies[^1];
        Assert.Equal(sent.Tid, refused.Tid);
        Assert.Equal(OsdStatus.Invalid, refused.Status);

        // A true resend of the logged write is still answered as done.
        DataBuffer again = DataBuffer.CopyOf(new byte[4096]);
        ClientOp resent = pair.Resend(first, again);
        again.Release();
        Assert.Equal(resent.Tid, pair.Replies[^1].Tid);
        Assert.Equal(OsdStatus.Ok, pair.Replies[^1].Status);

        ClientOp read = pair.Read(impostor.Object, 4096);
        ClientOpReply readReply = pair.Replies[^1];
        Assert.Equal(read.Tid, readReply.Tid);
        Assert.False(readReply.Exists);
    }
}
