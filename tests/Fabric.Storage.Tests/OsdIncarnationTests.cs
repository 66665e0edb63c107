using Fabric.Proto;
using Fabric.Storage.Osd;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Storage.Tests;

/// <summary>
/// An OSD serves as its node's current incarnation (<see cref="OsdCore.OnIncarnation"/>). When the monitor marks a
/// running node down, the node rejoins with a new incarnation and its OSD keeps running: until the OSD adopts the
/// new incarnation it takes the map's entry for another process, counts itself not up and leaves every PG it should
/// lead stray, so clients get "not primary" and retry forever. Two OSD cores on one thread (<see cref="OsdPair"/>).
/// </summary>
public sealed class OsdIncarnationTests
{
    private static readonly OsdOptions Options = new() { Incarnation = 1, SlowOpMs = 0, ScrubIntervalMs = 0, DeepScrubIntervalMs = 0 };

    private static int PrimaryPgs(OsdCore core) => core.ListPgs(new ListPgsRequest { PrimaryOnly = true }).Pgs.Count;

    /// <summary>The monitor marks n1 down (a heartbeat gap), then n1 rejoins as incarnation 2: two maps.</summary>
    private static void MarkDownAndRejoin(OsdPair pair, ulong incarnation)
    {
        pair.ChangeMap(map => map.Nodes.Single(n => n.Id == 1).State = NodeState.Down);
        pair.ChangeMap(map =>
        {
            NodeInfo n1 = map.Nodes.Single(n => n.Id == 1);
            n1.State = NodeState.Up;
            n1.Incarnation = incarnation;
        });
    }

    [Fact]
    public void An_osd_whose_node_rejoined_leads_its_pgs_again_and_serves_writes_once_it_adopts_the_new_incarnation()
    {
        var pair = new OsdPair(Options, NullLogger.Instance);
        string name = pair.ObjectLedBy1();
        int led = PrimaryPgs(pair.Core(1));
        Assert.True(led > 0);
        Assert.Equal(OsdStatus.Ok, ReplyTo(pair, pair.Write(name, 4096)).Status);

        MarkDownAndRejoin(pair, incarnation: 2);
        // Still incarnation 1: the map's n1 is another process as far as the OSD can tell, so it leads nothing.
        Assert.Equal(0, PrimaryPgs(pair.Core(1)));
        Assert.Equal(OsdStatus.NotPrimary, ReplyTo(pair, pair.Write(name, 4096)).Status);

        // Nor does it take osd.2's activations as a replica (the next map would make it stray again behind its
        // primary's back): osd.2's PGs wait.
        Assert.False(pair.Core(2).AllPrimaryPgsClean());

        pair.Core(1).OnIncarnation(2);
        pair.Pump();
        Assert.Equal(OsdStatus.Ok, ReplyTo(pair, pair.Write(name, 4096)).Status);
        Assert.Equal(2UL, pair.Core(1).Incarnation);
        Assert.Equal(led, PrimaryPgs(pair.Core(1)));
        Assert.True(pair.Core(1).AllPrimaryPgsClean());
        // osd.2 resends its activations, and osd.1 takes them now.
        pair.Tick(Options.RetransmitMs);
        Assert.True(pair.Core(2).AllPrimaryPgsClean());
    }

    [Fact]
    public void An_incarnation_adopted_before_the_map_names_it_stops_the_osd_acting_for_the_old_one_until_that_map_comes()
    {
        var pair = new OsdPair(Options, NullLogger.Instance);
        string name = pair.ObjectLedBy1();
        int led = PrimaryPgs(pair.Core(1));

        // The rejoin's reply reached the node before its map watch delivered the rejoin's map: the map still has
        // incarnation 1 up, which the monitor has already given up on.
        pair.Core(1).OnIncarnation(2);
        pair.Pump();
        Assert.Equal(0, PrimaryPgs(pair.Core(1)));
        Assert.Equal(OsdStatus.NotPrimary, ReplyTo(pair, pair.Write(name, 4096)).Status);

        MarkDownAndRejoin(pair, incarnation: 2);
        Assert.Equal(led, PrimaryPgs(pair.Core(1)));
        Assert.True(pair.Core(1).AllPrimaryPgsClean());
        Assert.Equal(OsdStatus.Ok, ReplyTo(pair, pair.Write(name, 4096)).Status);
    }

    [Fact]
    public void An_older_or_repeated_incarnation_changes_nothing()
    {
        var pair = new OsdPair(Options, NullLogger.Instance);
        string name = pair.ObjectLedBy1();
        MarkDownAndRejoin(pair, incarnation: 3);
        pair.Core(1).OnIncarnation(3);
        pair.Pump();
        int led = PrimaryPgs(pair.Core(1));
        Assert.True(led > 0);
        ulong epoch = pair.Core(1).Epoch;

        // A late notice of an earlier rejoin, and the same one again: nothing re-peers, nothing goes stray.
        pair.Core(1).OnIncarnation(2);
        pair.Core(1).OnIncarnation(3);
        pair.Pump();
        Assert.Equal(3UL, pair.Core(1).Incarnation);
        Assert.Equal(led, PrimaryPgs(pair.Core(1)));
        Assert.True(pair.Core(1).AllPrimaryPgsClean());
        Assert.Equal(epoch, pair.Core(1).Epoch);
        Assert.Equal(OsdStatus.Ok, ReplyTo(pair, pair.Write(name, 4096)).Status);
    }

    private static ClientOpReply ReplyTo(OsdPair pair, ClientOp op) => Assert.Single(pair.Replies, r => r.Tid == op.Tid);
}
