using Fabric.Core.Map;
using Fabric.Proto;
using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;

namespace Fabric.Core.Tests.Map;

public sealed class MapTransactionsTests
{
    private const long Now = 1_700_000_000_000;

    internal static ClusterMap NewMap() => MapTransactions.Genesis("t", "fsid-1",
        new ClusterSettings { HeartbeatIntervalMs = 500, HeartbeatGraceMs = 3000, DownOutIntervalMs = 60000 },
        new MonitorSet { Names = { "n1" }, Store = "embedded" }, Now);

    internal static MapTransaction Tx(ulong baseEpoch, params MapChange[] changes)
    {
        var tx = new MapTransaction { BaseEpoch = baseEpoch };
        tx.Changes.AddRange(changes);
        return tx;
    }

    internal static MapChange Join(string name, string grpc) => new()
    {
        NodeUpsert = new NodeUpsert { Node = new NodeInfo { Name = name, GrpcAddress = grpc, DataAddress = "127.0.0.1", CapacityBytes = 1UL << 40 } },
    };

    private static ClusterMap MustApply(ClusterMap map, params MapChange[] changes)
    {
        var result = MapTransactions.Apply(map, Tx(map.Epoch, changes), Now);
        Assert.True(result.Ok, result.Error?.ToString());
        return result.Map!;
    }

    [Fact]
    public void Every_applied_transaction_makes_exactly_the_next_epoch()
    {
        var map = NewMap();
        var next = MustApply(map, Join("n1", "127.0.0.1:7000"));
        Assert.Equal(map.Epoch + 1, next.Epoch);
        Assert.Equal(1u, next.Nodes.Single().Id);
        Assert.Equal(NodeState.Up, next.Nodes.Single().State);
        Assert.Empty(map.Nodes); // the input is untouched
    }

    [Fact]
    public void A_change_based_on_a_stale_epoch_is_refused_and_nothing_changes()
    {
        var map = MustApply(NewMap(), Join("n1", "127.0.0.1:7000"));
        var result = MapTransactions.Apply(map, Tx(map.Epoch - 1, Join("n2", "127.0.0.2:7000")), Now);
        Assert.False(result.Ok);
        Assert.Equal(MapErrorKind.StaleEpoch, result.Error!.Kind);
        Assert.Contains("re-read", result.Error.Message);
    }

    [Fact]
    public void A_rejoin_keeps_the_id_and_bumps_the_incarnation()
    {
        var map = MustApply(NewMap(), Join("n1", "127.0.0.1:7000"));
        map = MustApply(map, new MapChange { NodeState = new NodeStateChange { NodeId = 1, State = NodeState.Down, Reason = "missed heartbeats" } });
        map = MustApply(map, Join("n1", "127.0.0.1:7000"));
        var node = map.Nodes.Single();
        Assert.Equal(1u, node.Id);
        Assert.Equal(2ul, node.Incarnation);
        Assert.Equal(NodeState.Up, node.State);
    }

    [Fact]
    public void A_down_for_an_incarnation_that_has_rejoined_since_leaves_the_new_one_up()
    {
        var map = MustApply(NewMap(), Join("n1", "127.0.0.1:7000"));
        map = MustApply(map, Join("n1", "127.0.0.1:7000"));
        Assert.Equal(2ul, map.Nodes.Single().Incarnation);

        map = MustApply(map, new MapChange { NodeState = new NodeStateChange { NodeId = 1, State = NodeState.Down, Reason = "judged on incarnation 1", Incarnation = 1 } });
        Assert.Equal(NodeState.Up, map.Nodes.Single().State);
        map = MustApply(map, new MapChange { NodeState = new NodeStateChange { NodeId = 1, State = NodeState.Down, Reason = "missed heartbeats", Incarnation = 2 } });
        Assert.Equal(NodeState.Down, map.Nodes.Single().State);
    }

    [Fact]
    public void A_second_node_claiming_the_name_of_an_up_node_elsewhere_is_refused()
    {
        var map = MustApply(NewMap(), Join("n1", "127.0.0.1:7000"));
        var result = MapTransactions.Apply(map, Tx(0, Join("n1", "127.0.0.9:7000")), Now);
        Assert.Equal(MapErrorKind.AlreadyExists, result.Error!.Kind);
        Assert.Contains("already used by node 1", result.Error.Message);
    }

    [Fact]
    public void A_transaction_is_all_or_nothing()
    {
        var map = NewMap();
        var result = MapTransactions.Apply(map, Tx(map.Epoch,
            new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "rbd" } } },
            new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "rbd" } } }), Now);
        Assert.False(result.Ok);
        Assert.Contains("change 2 of 2", result.Error!.Message);
        Assert.Empty(map.Pools);
    }

    [Fact]
    public void Pools_get_defaults_and_reject_bad_values()
    {
        var map = MustApply(NewMap(), new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "rbd" } } });
        var pool = map.Pools.Single();
        Assert.Equal((3u, 2u, 64u, "host"), (pool.Replicas, pool.MinReplicas, pool.PgCount, pool.FailureDomain));

        var bad = MapTransactions.Apply(map, Tx(0, new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "p2", PgCount = 100 } } }), Now);
        Assert.Contains("power of two", bad.Error!.Message);
        bad = MapTransactions.Apply(map, Tx(0, new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "p3", Replicas = 2, MinReplicas = 3 } } }), Now);
        Assert.Contains("min_replicas", bad.Error!.Message);
    }

    [Fact]
    public void Locks_are_exclusive_and_break_only_after_blocklisting()
    {
        var map = MustApply(NewMap(),
            new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "rbd" } } },
            new MapChange { VolumeCreate = new VolumeCreate { Volume = new VolumeInfo { Name = "v", PoolId = 1, SizeBytes = 1 << 30 } } });
        map = MustApply(map, new MapChange { VolumeLock = new VolumeLockChange { Volume = "v", Op = "acquire", Owner = "node.1.1" } });

        var second = MapTransactions.Apply(map, Tx(0, new MapChange { VolumeLock = new VolumeLockChange { Volume = "v", Op = "acquire", Owner = "node.2.1" } }), Now);
        Assert.Contains("locked by node.1.1", second.Error!.Message);

        var breakEarly = MapTransactions.Apply(map, Tx(0, new MapChange { VolumeLock = new VolumeLockChange { Volume = "v", Op = "break" } }), Now);
        Assert.Contains("blocklist it first", breakEarly.Error!.Message);

        map = MustApply(map,
            new MapChange { BlocklistAdd = new BlocklistAdd { Identity = "node.1.1", Reason = "down" } },
            new MapChange { VolumeLock = new VolumeLockChange { Volume = "v", Op = "break" } },
            new MapChange { VolumeLock = new VolumeLockChange { Volume = "v", Op = "acquire", Owner = "node.2.1" } });
        Assert.Equal("node.2.1", map.FindVolume("v")!.Lock.Owner);

        var fenced = MapTransactions.Apply(map, Tx(0, new MapChange { VolumeLock = new VolumeLockChange { Volume = "v", Op = "acquire", Owner = "node.1.1" } }), Now);
        Assert.False(fenced.Ok);
    }

    [Fact]
    public void A_network_with_ports_cannot_be_removed()
    {
        var map = MustApply(NewMap(),
            new MapChange { NetworkUpsert = new NetworkUpsert { Network = new NetworkInfo { Name = "overlay", Kind = "vxlan", Vni = 5001 } } },
            new MapChange { VmCreate = new VmCreate { Spec = new VmSpec { Name = "vm1", Vcpus = 1, MemoryBytes = 256UL << 20, Nics = { new VmNic { Network = "overlay", Mac = "52:54:00:00:00:01" } } } } });
        var result = MapTransactions.Apply(map, Tx(0, new MapChange { NetworkDelete = new NetworkDelete { Name = "overlay" } }), Now);
        Assert.Equal(MapErrorKind.FailedPrecondition, result.Error!.Kind);
        Assert.Contains("vm1", result.Error.Message);
    }

    [Fact]
    public void A_vm_referring_to_an_unknown_network_is_refused_with_the_fix()
    {
        var map = NewMap();
        var result = MapTransactions.Apply(map, Tx(0, new MapChange { VmCreate = new VmCreate { Spec = new VmSpec { Name = "vm1", Vcpus = 1, MemoryBytes = 256UL << 20, Nics = { new VmNic { Network = "nope" } } } } }), Now);
        Assert.Equal(MapErrorKind.NotFound, result.Error!.Kind);
        Assert.Contains("network nope does not exist", result.Error.Message);
    }

    /// <summary>
    /// Property: over random sequences of (often invalid) changes, every accepted transaction yields
    /// epoch + 1 without touching its input, every refused one leaves the map as it was, ids are
    /// never reused, and names stay unique.
    /// </summary>
    [Fact]
    public void Random_transaction_sequences_keep_the_map_invariants()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var map = NewMap();
            var seenNodeIds = new HashSet<uint>();
            var seenVolumeIds = new HashSet<ulong>();
            for (int step = 0; step < 60; step++)
            {
                var tx = Tx(random.Next(8) == 0 ? map.Epoch - 1 : map.Epoch, RandomChanges(random, map));
                var before = map.ToByteArray();
                var result = MapTransactions.Apply(map, tx, Now + step);
                Assert.Equal(before, map.ToByteArray());
                if (!result.Ok) continue;
                var next = result.Map!;
                Assert.Equal(map.Epoch + 1, next.Epoch);
                Assert.Equal(next.Nodes.Count, next.Nodes.Select(n => n.Name).Distinct().Count());
                Assert.Equal(next.Volumes.Count, next.Volumes.Select(v => v.Name).Distinct().Count());
                Assert.Equal(next.Vms.Count, next.Vms.Select(v => v.Spec.Name).Distinct().Count());
                foreach (var node in next.Nodes)
                {
                    if (!map.Nodes.Any(n => n.Id == node.Id)) Assert.True(seenNodeIds.Add(node.Id), $"node id {node.Id} reused");
                }
                foreach (var volume in next.Volumes)
                {
                    if (!map.Volumes.Any(v => v.Id == volume.Id)) Assert.True(seenVolumeIds.Add(volume.Id), $"volume id {volume.Id} reused");
                    Assert.NotNull(next.FindPool(volume.PoolId));
                }
                foreach (var vm in next.Vms)
                {
                    foreach (var nic in vm.Spec.Nics) Assert.NotNull(next.FindNetwork(nic.Network));
                }
                map = next;
            }
        }).QuickCheckThrowOnFailure();
    }

    private static MapChange[] RandomChanges(Random random, ClusterMap map)
    {
        var count = random.Next(1, 3);
        var changes = new MapChange[count];
        for (int i = 0; i < count; i++) changes[i] = RandomChange(random, map);
        return changes;
    }

    private static MapChange RandomChange(Random random, ClusterMap map)
    {
        string Pick(string prefix) => prefix + random.Next(4);
        switch (random.Next(10))
        {
            case 0: return Join(Pick("n"), $"127.0.0.{random.Next(1, 4)}:7000");
            case 1: return new MapChange { NodeState = new NodeStateChange { NodeId = (uint)random.Next(0, 5), State = random.Next(2) == 0 ? NodeState.Up : NodeState.Down } };
            case 2: return new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = Pick("p"), PgCount = (uint)(1 << random.Next(0, 8)) } } };
            case 3: return new MapChange { PoolDelete = new PoolDelete { Name = Pick("p") } };
            case 4: return new MapChange { VolumeCreate = new VolumeCreate { Volume = new VolumeInfo { Name = Pick("v"), PoolId = (uint)random.Next(0, 4), SizeBytes = (ulong)random.Next(0, 4) << 20 } } };
            case 5: return new MapChange { VolumeDelete = new VolumeDelete { Name = Pick("v") } };
            case 6: return new MapChange { NetworkUpsert = new NetworkUpsert { Network = new NetworkInfo { Name = Pick("net"), Kind = random.Next(2) == 0 ? "vlan" : "vxlan", Vlan = (uint)random.Next(0, 5), Vni = (uint)random.Next(0, 5) } } };
            case 7: return new MapChange { NetworkDelete = new NetworkDelete { Name = Pick("net") } };
            case 8: return new MapChange { VmCreate = new VmCreate { Spec = new VmSpec { Name = Pick("vm"), Vcpus = 1, MemoryBytes = 64UL << 20, Disks = { new VmDisk { Volume = Pick("v") } }, Nics = { new VmNic { Network = Pick("net"), Mac = $"52:54:00:00:00:0{random.Next(4)}" } } } } };
            default: return new MapChange { VmDelete = new VmDelete { Name = Pick("vm") } };
        }
    }
}
