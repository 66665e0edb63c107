using Fabric.Core.Placement;
using Fabric.Proto;

namespace Fabric.Client.Tests.Placement;

public class PlacementMapTests
{
    internal static ClusterMap BuildMap(int hosts, int osdsPerHost, uint pgCount, uint replicas, Func<int, double>? weight = null, int racks = 0)
    {
        var map = new ClusterMap { Epoch = 1 };
        int id = 1;
        for (int h = 0; h < hosts; h++)
        {
            for (int o = 0; o < osdsPerHost; o++)
            {
                string domain = racks > 0 ? $"rack{h % racks}/host{h}" : $"host{h}";
                map.Nodes.Add(new NodeInfo
                {
                    Id = (uint)id, Name = $"n{id}", FailureDomain = domain, Weight = weight?.Invoke(id) ?? 1.0,
                    State = NodeState.Up, In = true,
                });
                id++;
            }
        }
        map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = replicas, MinReplicas = 2, PgCount = pgCount, FailureDomain = racks > 0 ? "rack" : "host" });
        return map;
    }

    [Fact]
    public void Balance_on_1000_osds_in_100_hosts_is_within_ten_percent_of_weight_share()
    {
        // Weights vary by OSD (1, 1.5, 2) so that the share is weight-proportional, not just uniform.
        ClusterMap map = BuildMap(100, 10, 1u << 19, 3, id => 1.0 + (id % 3) * 0.5);
        var placement = PlacementMap.Build(map);
        var counts = new int[1001];
        Span<int> osds = stackalloc int[3];
        for (uint seed = 0; seed < (1u << 19); seed++)
        {
            int n = placement.Place(new PgId(1, seed), 3, "host", osds);
            Assert.Equal(3, n);
            for (int i = 0; i < n; i++)
            {
                counts[osds[i]]++;
            }
        }
        double totalWeight = map.Nodes.Sum(n => n.Weight);
        double slots = 3.0 * (1 << 19);
        double worst = 0;
        foreach (NodeInfo node in map.Nodes)
        {
            double expected = slots * node.Weight / totalWeight;
            double deviation = Math.Abs(counts[node.Id] - expected) / expected;
            worst = Math.Max(worst, deviation);
        }
        Assert.True(worst <= 0.10, $"worst deviation {worst:P2}");
    }

    [Fact]
    public void Adding_a_host_moves_at_most_1_2_times_the_ideal_fraction()
    {
        const uint pgs = 1u << 16;
        ClusterMap before = BuildMap(100, 10, pgs, 3);
        ClusterMap after = before.Clone();
        after.Epoch = 2;
        for (int o = 0; o < 10; o++)
        {
            after.Nodes.Add(new NodeInfo { Id = (uint)(1001 + o), Name = $"new{o}", FailureDomain = "host100", Weight = 1.0, State = NodeState.Up, In = true });
        }
        var a = PlacementMap.Build(before);
        var b = PlacementMap.Build(after);
        long moved = 0;
        for (uint seed = 0; seed < pgs; seed++)
        {
            int[] x = a.Get(new PgId(1, seed))!.Placement;
            int[] y = b.Get(new PgId(1, seed))!.Placement;
            foreach (int osd in y)
            {
                if (Array.IndexOf(x, osd) < 0)
                {
                    moved++;
                }
            }
        }
        double fraction = moved / (3.0 * pgs);
        double ideal = 10.0 / 1010.0;
        Assert.True(fraction <= 1.2 * ideal, $"moved {fraction:P3}, ideal {ideal:P3}");
        Assert.True(fraction >= 0.5 * ideal, $"moved {fraction:P3}: the new host takes almost nothing");
    }

    [Fact]
    public void Marking_a_node_out_moves_only_its_pgs()
    {
        const uint pgs = 4096;
        ClusterMap before = BuildMap(10, 2, pgs, 3);
        ClusterMap after = before.Clone();
        after.Nodes.First(n => n.Id == 5).In = false;
        var a = PlacementMap.Build(before);
        var b = PlacementMap.Build(after);
        int outSlots = 0, moved = 0;
        for (uint seed = 0; seed < pgs; seed++)
        {
            int[] x = a.Get(new PgId(1, seed))!.Placement;
            int[] y = b.Get(new PgId(1, seed))!.Placement;
            Assert.DoesNotContain(5, y);
            Assert.Equal(3, y.Length);
            if (Array.IndexOf(x, 5) < 0)
            {
                Assert.Equal(x, y);
            }
            else
            {
                outSlots++;
                moved += y.Count(o => Array.IndexOf(x, o) < 0);
            }
        }
        // The out OSD's slots move; a retry can shift a later replica too (CRUSH "firstn"), rarely.
        Assert.True(moved <= 1.2 * outSlots, $"moved {moved} for {outSlots} slots of the out OSD");
    }

    [Fact]
    public void Failure_domains_are_distinct_for_hosts_and_racks()
    {
        ClusterMap byHost = BuildMap(8, 4, 2048, 3);
        ClusterMap byRack = BuildMap(12, 2, 2048, 3, racks: 4);
        foreach (ClusterMap map in new[] { byHost, byRack })
        {
            var placement = PlacementMap.Build(map);
            bool rack = map.Pools[0].FailureDomain == "rack";
            for (uint seed = 0; seed < 2048; seed++)
            {
                int[] osds = placement.Get(new PgId(1, seed))!.Placement;
                Assert.Equal(3, osds.Length);
                var domains = osds.Select(o => map.Nodes.First(n => n.Id == o).FailureDomain)
                    .Select(d => rack ? d.Split('/')[0] : d).ToArray();
                Assert.Equal(3, domains.Distinct().Count());
            }
        }
    }

    [Fact]
    public void Placement_is_a_pure_function_of_the_map()
    {
        ClusterMap map = BuildMap(20, 3, 1024, 3);
        var a = PlacementMap.Build(map);
        var b = PlacementMap.Build(map.Clone());
        for (uint seed = 0; seed < 1024; seed++)
        {
            Assert.Equal(a.Get(new PgId(1, seed))!.Placement, b.Get(new PgId(1, seed))!.Placement);
        }
        Assert.Equal(PlacementMap.ObjectToPg(map.Pools[0], "v1.0000000000000001"), PlacementMap.ObjectToPg(map.Pools[0], "v1.0000000000000001"));
    }

    [Fact]
    public void Down_nodes_stay_in_placement_but_leave_the_acting_set()
    {
        ClusterMap map = BuildMap(3, 1, 64, 3);
        map.Nodes[1].State = NodeState.Down;
        var placement = PlacementMap.Build(map);
        for (uint seed = 0; seed < 64; seed++)
        {
            PgMapping m = placement.Get(new PgId(1, seed))!;
            Assert.Equal(3, m.Placement.Length);
            Assert.Equal(2, m.Acting.Length);
            Assert.DoesNotContain(2, m.Acting);
        }
    }

    [Fact]
    public void Fewer_domains_than_replicas_gives_a_short_set()
    {
        ClusterMap map = BuildMap(2, 2, 64, 3);
        var placement = PlacementMap.Build(map);
        for (uint seed = 0; seed < 64; seed++)
        {
            Assert.Equal(2, placement.Get(new PgId(1, seed))!.Placement.Length);
        }
    }
}
