using Fabric.Cli.Storage;
using Fabric.Core.Placement;
using Fabric.Proto;

namespace Fabric.IntegrationTests.Storage;

/// <summary>How `fabric pg list` and `fabric status` merge what the OSDs report (no cluster needed).</summary>
public sealed class StorageReportTests
{
    private static ClusterMap Map(ulong epoch, params uint[] downNodes)
    {
        var map = new ClusterMap { Epoch = epoch, ClusterName = "t" };
        for (uint id = 1; id <= 3; id++)
        {
            map.Nodes.Add(new NodeInfo
            {
                Id = id, Name = "n" + id, State = downNodes.Contains(id) ? NodeState.Down : NodeState.Up, In = true, Weight = 1,
                FailureDomain = "rack1/n" + id, CapacityBytes = 1 << 30, GrpcAddress = $"127.0.0.{id}:7000",
            });
        }
        map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = 3, MinReplicas = 2, PgCount = 8, FailureDomain = "host" });
        return map;
    }

    /// <summary>What each up node would answer: its primary PGs in the given state (acting from the map).</summary>
    private static List<(NodeInfo, ListPgsReply?, OsdStatusReply?, string?)> Answers(ClusterMap map, Func<PgMapping, string> state, ulong objects = 0, params uint[] silent)
    {
        var placement = PlacementMap.Build(map);
        var answers = new List<(NodeInfo, ListPgsReply?, OsdStatusReply?, string?)>();
        foreach (var node in map.Nodes)
        {
            if (node.State != NodeState.Up || silent.Contains(node.Id))
            {
                answers.Add((node, null, null, "does not answer"));
                continue;
            }
            var reply = new ListPgsReply { MapEpoch = map.Epoch, Osd = (int)node.Id };
            for (uint seed = 0; seed < 8; seed++)
            {
                var mapping = placement.Get(new PgId(1, seed))!;
                if (mapping.Primary != node.Id) continue;
                var pg = new PgStatus { Pg = mapping.Pg.ToString(), State = state(mapping), Primary = mapping.Primary, Objects = objects };
                pg.Acting.AddRange(mapping.Acting);
                pg.Up.AddRange(mapping.Acting);
                reply.Pgs.Add(pg);
            }
            answers.Add((node, reply, new OsdStatusReply { Osd = (int)node.Id, UsedBytes = 1 << 20, TotalBytes = 1L << 40 }, null));
        }
        return answers;
    }

    [Fact]
    public void Every_pg_reported_clean_is_health_ok_and_capacity_uses_the_configured_sizes()
    {
        var map = Map(5);
        var report = StorageReport.Build(map, null, Answers(map, _ => "active+clean", objects: 4));
        Assert.Equal(8, report.Pgs.Count);
        Assert.Equal([("active+clean", 8)], report.StateCounts);
        Assert.Empty(report.HealthChecks());
        Assert.Equal(32UL, report.Objects);
        Assert.Equal(3UL << 30, report.TotalBytes);
        Assert.Equal(3UL << 20, report.UsedBytes);
    }

    [Fact]
    public void A_newer_report_of_the_same_pg_wins_over_an_old_primarys()
    {
        var map = Map(6);
        var answers = Answers(map, _ => "active+undersized+degraded");
        // An old primary still at epoch 5 claims every PG as clean: the epoch-6 reports win.
        var stale = new ListPgsReply { MapEpoch = 5, Osd = 3 };
        for (uint seed = 0; seed < 8; seed++) stale.Pgs.Add(new PgStatus { Pg = new PgId(1, seed).ToString(), State = "active+clean", Primary = 3 });
        answers[2] = (answers[2].Item1, stale, answers[2].Item3, null);
        var report = StorageReport.Build(map, null, answers);
        var placement = PlacementMap.Build(map);
        foreach (var row in report.Pgs)
        {
            bool ownedByN3 = PgId.TryParse(row.Pg, out var id) && placement.Get(id)!.Primary == 3;
            Assert.Equal(ownedByN3 ? "active+clean" : "active+undersized+degraded", row.State);
        }
    }

    [Fact]
    public void Slow_ops_of_any_osd_warn_naming_the_oldest_and_every_daemon_that_has_some()
    {
        var map = Map(6);
        var answers = Answers(map, _ => "active+clean");
        answers[0].Item3!.SlowOps = 2;
        answers[0].Item3!.OldestSlowOpSeconds = 31.4;
        answers[0].Item3!.OldestSlowOp = "OsdOpWrite v1.0 from node.2.1, pg 1.3 active: replicas not acked: osd.3";
        answers[2].Item3!.SlowOps = 1;
        answers[2].Item3!.OldestSlowOpSeconds = 95;
        answers[2].Item3!.OldestSlowOp = "OsdOpRead v1.7 from node.1.1, pg 1.5 peering: waiting for peering";
        var check = Assert.Single(StorageReport.Build(map, null, answers).HealthChecks());
        Assert.Equal(("warn", "SLOW_OPS"), (check.Severity, check.Code));
        Assert.StartsWith("3 slow op(s), oldest one blocked for 95 s on osd.3 (OsdOpRead v1.7 from node.1.1, pg 1.5 peering: waiting for peering)", check.Message);
        Assert.Contains("daemons with slow ops: osd.3, osd.1", check.Message);
    }

    [Fact]
    public void Undersized_pgs_count_missing_copies_as_degraded_objects_and_warn()
    {
        var map = Map(7, downNodes: 3);
        var report = StorageReport.Build(map, null, Answers(map, _ => "active+undersized+degraded", objects: 10));
        Assert.All(report.Pgs, p => Assert.Equal(10UL, p.DegradedObjects)); // acting 2 of 3 replicas: one copy of each object missing
        Assert.Equal(80UL, report.DegradedObjects);
        Assert.Equal(240UL, report.ObjectCopies);
        var check = Assert.Single(report.HealthChecks());
        Assert.Equal(("warn", "PG_DEGRADED"), (check.Severity, check.Code));
        Assert.Contains("80/240 object copies degraded", check.Message);
        Assert.Contains("8 undersized", check.Message);
    }

    [Fact]
    public void Pgs_of_a_silent_primary_are_stale_and_pgs_with_every_member_down_are_down()
    {
        var map = Map(8);
        var silent = StorageReport.Build(map, null, Answers(map, _ => "active+clean", silent: 1));
        var placement = PlacementMap.Build(map);
        int ledByN1 = Enumerable.Range(0, 8).Count(s => placement.Get(new PgId(1, (uint)s))!.Primary == 1);
        Assert.Equal(ledByN1, silent.Pgs.Count(p => p.State == "stale"));
        Assert.Contains(silent.HealthChecks(), c => c.Code == "PG_AVAILABILITY" && c.Severity == "warn");
        Assert.Contains(silent.HealthChecks(), c => c.Code == "OSD_UNREACHABLE");

        var allDown = Map(9, downNodes: [1, 2, 3]);
        var down = StorageReport.Build(allDown, null, Answers(allDown, _ => "active+clean"));
        Assert.All(down.Pgs, p => Assert.Equal("down", p.State));
        var error = Assert.Single(down.HealthChecks(), c => c.Severity == "error");
        Assert.Equal("PG_DOWN", error.Code);
        Assert.Contains("8 pg(s) down", error.Message);
    }

    [Fact]
    public void Recovering_and_backfilling_pgs_warn_and_name_examples()
    {
        var map = Map(10);
        var report = StorageReport.Build(map, null, Answers(map, m => m.Pg.Seed % 2 == 0 ? "active+degraded+recovering" : "active+undersized+degraded+backfilling", objects: 1));
        var check = Assert.Single(report.HealthChecks());
        Assert.Equal("PG_DEGRADED", check.Code);
        Assert.Contains("4 recovering", check.Message);
        Assert.Contains("4 backfilling", check.Message);
        Assert.Contains("e.g. 1.0", check.Message);
    }
}
