using Fabric.Core.Map;
using Fabric.Node.Vms;
using Fabric.Proto;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// The decisions of live migration and HA that are pure functions of the map (no processes): the HA decider,
/// its one transaction (blocklist, lock break, placement, generation) against the real map rules, the refusal of
/// a second decider at a stale epoch, and the destination choice of `fabric vm migrate` without `--to`.
/// </summary>
public sealed class MigrationPlanUnitTests
{
    private static ClusterMap Map()
    {
        var map = MapTransactions.Genesis("t", "fsid", new ClusterSettings { HeartbeatIntervalMs = 500, HeartbeatGraceMs = 3000, DownOutIntervalMs = 60000 }, new MonitorSet(), 0);
        var tx = new MapTransaction();
        for (uint i = 1; i <= 3; i++)
        {
            tx.Changes.Add(new MapChange { NodeUpsert = new NodeUpsert { Node = new NodeInfo { Name = $"n{i}", GrpcAddress = $"127.0.0.{i}:7000", MemoryBytes = 1UL << 30, State = NodeState.Up, Incarnation = 5 } } });
        }
        tx.Changes.Add(new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "rbd", Replicas = 3, MinReplicas = 2, PgCount = 8 } } });
        tx.Changes.Add(new MapChange { VolumeCreate = new VolumeCreate { Volume = new VolumeInfo { Name = "adisk", PoolId = 1, SizeBytes = 32 << 20 } } });
        tx.Changes.Add(new MapChange { VmCreate = new VmCreate { Spec = new VmSpec { Name = "a", Vcpus = 1, MemoryBytes = 256 << 20, Ha = true, Disks = { new VmDisk { Volume = "adisk" } } } } });
        map = Apply(map, tx);
        var n2 = map.FindNode("n2")!;
        return Apply(map, new MapTransaction
        {
            Changes =
            {
                new MapChange { VmUpdate = new VmUpdate { Name = "a", Fields = { "node_id", "want_running", "state" }, NodeId = n2.Id, WantRunning = true, State = VmState.Running, BumpGeneration = true } },
                new MapChange { VolumeLock = new VolumeLockChange { Volume = "adisk", Op = "acquire", Owner = n2.Identity(), NodeId = n2.Id, Description = "a" } },
            },
        });
    }

    private static ClusterMap Apply(ClusterMap map, MapTransaction tx)
    {
        var r = MapTransactions.Apply(map, tx, 0);
        Assert.True(r.Ok, r.Error?.Message);
        return r.Map!;
    }

    private static ClusterMap Down(ClusterMap map, string node)
    {
        var next = map.Clone();
        next.FindNode(node)!.State = NodeState.Down;
        next.Epoch++;
        return next;
    }

    [Fact]
    public void The_lowest_up_node_decides_and_its_one_transaction_fences_breaks_the_lock_and_moves_the_vm()
    {
        var map = Down(Map(), "n2");
        Assert.True(HaRestarter.IsDecider(map, map.FindNode("n1")!.Id));
        Assert.False(HaRestarter.IsDecider(map, map.FindNode("n3")!.Id));
        Assert.False(HaRestarter.IsDecider(Down(map, "n1"), map.FindNode("n1")!.Id));
        Assert.True(HaRestarter.IsDecider(Down(map, "n1"), map.FindNode("n3")!.Id));

        var vm = map.FindVm("a")!;
        var tx = HaRestarter.Plan(map, vm, out var refusal);
        Assert.Null(refusal);
        Assert.NotNull(tx);
        Assert.Equal(map.Epoch, tx!.BaseEpoch);
        var after = Apply(map, tx);
        var moved = after.FindVm("a")!;
        Assert.NotEqual(map.FindNode("n2")!.Id, moved.NodeId);
        Assert.Equal(vm.Generation + 1, moved.Generation);
        Assert.StartsWith("HA: restarted on n", moved.StateReason);
        Assert.True(after.IsBlocklisted(map.FindNode("n2")!.Identity()));
        Assert.Null(after.FindVolume("adisk")!.Lock);

        // A second decider that saw the same epoch is refused (the map moved on), and on the new map there is nothing to do.
        Assert.False(MapTransactions.Apply(after, tx, 0).Ok);
        Assert.Null(HaRestarter.Plan(after, moved, out _));
    }

    [Fact]
    public void Only_ha_vms_that_are_wanted_on_a_down_node_are_restarted()
    {
        var up = Map();
        Assert.Null(HaRestarter.Plan(up, up.FindVm("a")!, out _));
        var down = Down(up, "n2");
        var notHa = down.Clone();
        notHa.FindVm("a")!.Spec.Ha = false;
        Assert.Null(HaRestarter.Plan(notHa, notHa.FindVm("a")!, out _));
        var stopped = down.Clone();
        stopped.FindVm("a")!.WantRunning = false;
        Assert.Null(HaRestarter.Plan(stopped, stopped.FindVm("a")!, out _));
        // No node with the memory: nothing is planned, and the refusal says why.
        var full = down.Clone();
        foreach (var n in full.Nodes) n.MemoryBytes = 128 << 20;
        Assert.Null(HaRestarter.Plan(full, full.FindVm("a")!, out var why));
        Assert.Contains("needs", why);
    }

    [Fact]
    public void Without_to_the_destination_is_another_up_node_and_with_to_the_pick_is_checked()
    {
        var map = Map();
        var vm = map.FindVm("a")!;
        var (dest, error) = VmMigrations.ChooseDestination(map, vm, "");
        Assert.Null(error);
        Assert.NotEqual("n2", dest!.Name);
        Assert.Equal(NodeState.Up, dest.State);
        Assert.Contains("already runs on n2", VmMigrations.ChooseDestination(map, vm, "n2").Error);
        Assert.Contains("down", VmMigrations.ChooseDestination(Down(map, "n3"), vm, "n3").Error);
        Assert.Equal("n1", VmMigrations.ChooseDestination(Down(map, "n3"), vm, "").Node!.Name);
    }
}
