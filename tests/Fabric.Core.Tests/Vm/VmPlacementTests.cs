using Fabric.Core.Vm;
using Fabric.Proto;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Core.Tests.Vm;

public sealed class VmPlacementTests
{
    private const ulong MiB = 1UL << 20;
    private const ulong GiB = 1UL << 30;

    private static ClusterMap Map(params (string Name, ulong Memory, bool Up)[] nodes)
    {
        var map = new ClusterMap { Epoch = 5 };
        uint id = 1;
        foreach (var (name, memory, up) in nodes)
        {
            map.Nodes.Add(new NodeInfo { Id = id++, Name = name, MemoryBytes = memory, State = up ? NodeState.Up : NodeState.Down });
        }
        map.Networks.Add(new NetworkInfo { Id = 1, Name = "overlay", Kind = "vxlan", Vni = 5001 });
        return map;
    }

    private static VmSpec Spec(string name, ulong memory, string node = "", string network = "overlay")
    {
        var spec = new VmSpec { Name = name, MemoryBytes = memory, Vcpus = 1, Node = node };
        if (network.Length > 0) spec.Nics.Add(new VmNic { Network = network });
        return spec;
    }

    private static void Place(ClusterMap map, string vm, uint node, ulong memory, bool want = true, VmState state = VmState.Running) =>
        map.Vms.Add(new VmInfo { Spec = Spec(vm, memory), NodeId = node, WantRunning = want, State = state });

    [Fact]
    public void The_node_with_the_most_free_memory_wins_and_two_vms_spread()
    {
        var map = Map(("n1", GiB, true), ("n2", GiB, true), ("n3", GiB, true));
        var first = VmPlacement.Choose(map, Spec("vm1", 256 * MiB));
        Assert.Equal("n1", first.Node!.Name); // a tie goes to the lowest id
        Place(map, "vm1", first.Node.Id, 256 * MiB);
        var second = VmPlacement.Choose(map, Spec("vm2", 256 * MiB));
        Assert.NotEqual("n1", second.Node!.Name);
    }

    [Fact]
    public void Stopped_vms_hold_no_memory_and_a_vm_does_not_compete_with_itself()
    {
        var map = Map(("n1", GiB, true));
        Place(map, "old", 1, GiB, want: false, state: VmState.Stopped);
        Place(map, "vm1", 1, GiB); // its own reservation (a restart of vm1)
        Assert.Equal("n1", VmPlacement.Choose(map, Spec("vm1", GiB)).Node!.Name);
        Assert.Equal(GiB, VmPlacement.UsedMemoryBytes(map, 1));
        map.Vms.Add(new VmInfo { Spec = Spec("mover", 512 * MiB), NodeId = 2, MigratingTo = 1, State = VmState.Migrating });
        Assert.Equal(GiB + 512 * MiB, VmPlacement.UsedMemoryBytes(map, 1));
    }

    [Fact]
    public void Refusals_name_the_need_and_the_best_offer()
    {
        var map = Map(("n1", 2 * GiB, true), ("n2", 2 * GiB, true), ("n3", 8 * GiB, false));
        Place(map, "a", 1, GiB);
        Place(map, "b", 2, 300 * MiB);
        var r = VmPlacement.Choose(map, Spec("vm3", 4 * GiB));
        Assert.False(r.Ok);
        Assert.Equal("VM vm3 needs 4 GiB; the most free memory on any node is 1.7 GiB (n2)", r.Error);

        Assert.Equal("VM vm3 needs 4 GiB; node n1 has 1 GiB free (of 2 GiB)", VmPlacement.Choose(map, Spec("vm3", 4 * GiB, node: "n1")).Error);
        Assert.Contains("node n3 is down", VmPlacement.Choose(map, Spec("vm3", MiB * 64, node: "n3")).Error);
        Assert.Contains("node n9 is not in the cluster", VmPlacement.Choose(map, Spec("vm3", MiB * 64), requestedNode: "n9").Error);
        Assert.Contains("network nope does not exist", VmPlacement.Choose(map, Spec("vm3", MiB * 64, network: "nope")).Error);
        Assert.Contains("no node that is up", VmPlacement.Choose(Map(("n1", 0, true)), Spec("vm3", MiB * 64)).Error);
    }

    [Fact]
    public void A_placement_always_fits_and_is_the_roomiest_node_and_a_refusal_means_nothing_fits()
    {
        var gen =
            from nodeCount in Gen.Choose(1, 6)
            from memories in Gen.ArrayOf(Gen.Choose(0, 8), nodeCount)
            from ups in Gen.ArrayOf(Gen.Elements(true, true, false), nodeCount)
            from placedCount in Gen.Choose(0, 10)
            from placedNodes in Gen.ArrayOf(Gen.Choose(1, nodeCount), placedCount)
            from placedSizes in Gen.ArrayOf(Gen.Choose(1, 4), placedCount)
            from need in Gen.Choose(1, 8)
            select (memories, ups, placed: placedNodes.Zip(placedSizes).ToList(), need);
        Prop.ForAll(gen.ToArbitrary(), c =>
        {
            var map = Map(c.memories.Select((m, i) => ($"n{i + 1}", (ulong)m * 256 * MiB, c.ups[i])).ToArray());
            for (var i = 0; i < c.placed.Count; i++) Place(map, $"p{i}", (uint)c.placed[i].Item1, (ulong)c.placed[i].Item2 * 128 * MiB);
            var need = (ulong)c.need * 256 * MiB;
            var result = VmPlacement.Choose(map, Spec("new", need));
            var up = map.Nodes.Where(n => n.State == NodeState.Up && n.MemoryBytes > 0).ToList();
            var maxFree = up.Count == 0 ? 0 : up.Max(n => VmPlacement.FreeMemoryBytes(map, n));
            if (result.Ok)
            {
                var free = VmPlacement.FreeMemoryBytes(map, result.Node!);
                return result.Node!.State == NodeState.Up && free >= need && free == maxFree;
            }
            return up.Count == 0 || maxFree < need;
        }).QuickCheckThrowOnFailure();
    }
}
