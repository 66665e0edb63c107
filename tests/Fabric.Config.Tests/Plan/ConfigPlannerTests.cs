using Fabric.Config.Model;
using Fabric.Config.Plan;
using Fabric.Config.Tests.Config;
using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Config.Tests.Plan;

/// <summary>
/// The planner against real maps: every plan is applied with <see cref="MapTransactions.Apply"/> (the
/// monitor's own function) and planning again must find nothing left to do.
/// </summary>
public sealed class ConfigPlannerTests
{
    private static ClusterConfig LoadSample(string text = SampleConfig.Text)
    {
        var result = SampleConfig.Load(text);
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        return result.Config!;
    }

    /// <summary>A new cluster's map with the given config nodes joined (all of them by default).</summary>
    private static ClusterMap JoinedMap(ClusterConfig config, params string[] nodes)
    {
        var map = MapTransactions.Genesis(config.Cluster.Name, "fsid-1", ConfigMapping.ToClusterSettings(config.Cluster), ConfigMapping.ToMonitorSet(config.Cluster), 1_000);
        foreach (var node in config.Nodes.Where(node => nodes.Length == 0 || nodes.Contains(node.Name)))
        {
            var transaction = new MapTransaction { BaseEpoch = map.Epoch };
            transaction.Changes.Add(new MapChange { NodeUpsert = new NodeUpsert { Node = ConfigMapping.ToNodeInfo(node) } });
            map = ApplyOk(map, transaction);
        }

        return map;
    }

    private static ClusterMap ApplyOk(ClusterMap map, MapTransaction transaction)
    {
        var result = MapTransactions.Apply(map, transaction, 2_000);
        Assert.True(result.Ok, result.Error?.Message);
        return result.Map!;
    }

    private static ClusterMap Apply(ClusterMap map, ConfigPlan plan)
    {
        Assert.True(plan.HasChanges, "the plan has no changes:\n" + plan.Render());
        var next = ApplyOk(map, plan.ToTransaction("request-1", "test"));
        Assert.Equal(map.Epoch + 1, next.Epoch);
        return next;
    }

    private static void AssertNothingToDo(ClusterConfig config, ClusterMap map)
    {
        var again = ConfigPlanner.Plan(config, map, PlanScope.Default);
        Assert.False(again.HasChanges, "re-planning found changes:\n" + again.Render());
        Assert.False(again.HasErrors, again.Render());
        Assert.All(again.Lines.Where(line => line.Kind is "pool" or "volume" or "network" or "vm" or "settings"),
            line => Assert.Equal(PlanAction.Unchanged, line.Action));
    }

    private static List<string> Lines(ConfigPlan plan) => plan.Lines.Select(line => line.ToString()).ToList();

    [Fact]
    public void AFreshClusterGetsEverythingCreatedInOneTransaction()
    {
        var config = LoadSample();
        var map = JoinedMap(config);
        var plan = ConfigPlanner.Plan(config, map, PlanScope.Default);

        Assert.False(plan.HasErrors, plan.Render());
        Assert.Equal(map.Epoch, plan.BaseEpoch);
        var lines = Lines(plan);
        Assert.Contains("= settings test (unchanged)", lines);
        Assert.Contains("= node n1 (up, in)", lines);
        Assert.Contains("+ pool rbd (3 replicas, min 2, 64 PGs, failure domain host)", lines);
        Assert.Contains("+ volume vm1-root (256MiB in pool rbd)", lines);
        Assert.Contains("+ network lan (vlan 100, 10.20.0.0/24)", lines);
        Assert.Contains("+ network overlay (vxlan 5001, 10.10.0.0/24)", lines);
        Assert.Contains("+ vm vm1 (1 vCPU, 256MiB, on n1)", lines);
        Assert.Equal(
            [MapChange.ChangeOneofCase.PoolCreate, MapChange.ChangeOneofCase.VolumeCreate, MapChange.ChangeOneofCase.VolumeCreate, MapChange.ChangeOneofCase.VolumeCreate,
             MapChange.ChangeOneofCase.NetworkUpsert, MapChange.ChangeOneofCase.NetworkUpsert, MapChange.ChangeOneofCase.VmCreate, MapChange.ChangeOneofCase.VmCreate],
            plan.Changes.Select(change => change.ChangeCase));
        Assert.EndsWith("plan: 8 to create, 0 to change, 0 to delete\n", plan.Render(), StringComparison.Ordinal);

        var applied = Apply(map, plan);
        var pool = applied.FindPool("rbd")!;
        Assert.All(applied.Volumes, volume => Assert.Equal(pool.Id, volume.PoolId));
        Assert.Equal(applied.FindNode("n1")!.Id, applied.FindVm("vm1")!.NodeId);
        Assert.Equal(2, applied.FindNetwork("overlay")!.Acl.Count);
        AssertNothingToDo(config, applied);
    }

    [Fact]
    public void TheExampleClusterPlansAndAppliesCleanly()
    {
        var result = Fabric.Config.Loading.ClusterConfigLoader.Load(Path.Combine(TestEnvironment.RepoRoot!, "cluster.example.toml"));
        var config = result.GetConfigOrThrow();
        var map = JoinedMap(config);
        var plan = ConfigPlanner.Plan(config, map, PlanScope.Default);
        Assert.False(plan.HasErrors, plan.Render());
        var applied = Apply(map, plan);
        Assert.Equal(2, applied.Vms.Count);
        AssertNothingToDo(config, applied);
    }

    [Fact]
    public void ChangesThatCanBeMadeInPlaceAreUpdates()
    {
        var config = LoadSample();
        var map = Apply(JoinedMap(config), ConfigPlanner.Plan(config, JoinedMap(config), PlanScope.Default));

        var text = SampleConfig.Edit("mtu = 1500", "mtu = 9000");
        text = SampleConfig.Edit("size = \"1GiB\"", "size = \"2GiB\"", text);
        text = SampleConfig.Edit("min_replicas = 2", "min_replicas = 3", text);
        text = SampleConfig.Edit("priority = 100", "priority = 100\n\n  [[network.acl]]\n  action = \"allow\"\n  protocol = \"udp\"\n  port = 53\n  priority = 80", text);
        text = SampleConfig.Edit("memory = \"256MiB\"\nimage", "memory = \"512MiB\"\nimage", text);
        text = SampleConfig.Edit("heartbeat_grace = \"3s\"", "heartbeat_grace = \"5s\"", text);
        var changed = LoadSample(text);

        var plan = ConfigPlanner.Plan(changed, map, PlanScope.Default);
        Assert.False(plan.HasErrors, plan.Render());
        var lines = Lines(plan);
        Assert.Contains("~ settings test: heartbeat_grace 3s -> 5s", lines);
        Assert.Contains("~ pool rbd: min_replicas 2 -> 3", lines);
        Assert.Contains("~ volume shared: size 1GiB -> 2GiB", lines);
        Assert.Contains("= volume vm1-root (unchanged)", lines);
        Assert.Contains("~ network lan: mtu 1500 -> 9000", lines);
        Assert.Contains("~ network overlay: acl 2 rules -> 3 rules", lines);
        Assert.Contains("~ vm vm1: memory 256MiB -> 512MiB", lines);
        Assert.Contains("= vm vm2 (unchanged)", lines);
        Assert.Equal(
            [MapChange.ChangeOneofCase.SettingsSet, MapChange.ChangeOneofCase.PoolSet, MapChange.ChangeOneofCase.VolumeResize,
             MapChange.ChangeOneofCase.NetworkUpsert, MapChange.ChangeOneofCase.NetworkUpsert, MapChange.ChangeOneofCase.VmUpdate],
            plan.Changes.Select(change => change.ChangeCase));
        var poolSet = plan.Changes[1].PoolSet;
        Assert.Equal((0u, 3u, 0u), (poolSet.Replicas, poolSet.MinReplicas, poolSet.PgCount));

        var applied = Apply(map, plan);
        Assert.Equal(9000u, applied.FindNetwork("lan")!.Mtu);
        Assert.Equal(2UL << 30, applied.FindVolume("shared")!.SizeBytes);
        Assert.Equal(5000u, applied.Settings.HeartbeatGraceMs);
        AssertNothingToDo(changed, applied);
    }

    [Fact]
    public void ARunningVmIsToldWhenItsNewSpecTakesEffect()
    {
        var config = LoadSample();
        var map = Apply(JoinedMap(config), ConfigPlanner.Plan(config, JoinedMap(config), PlanScope.Default));
        var running = new MapTransaction();
        var update = new VmUpdate { Name = "vm1", State = VmState.Running };
        update.Fields.Add("state");
        running.Changes.Add(new MapChange { VmUpdate = update });
        map = ApplyOk(map, running);

        var changed = LoadSample(SampleConfig.Edit("vcpus = 1", "vcpus = 2"));
        var plan = ConfigPlanner.Plan(changed, map, PlanScope.Default);
        Assert.Contains("~ vm vm1: vcpus 1 -> 2 (the VM is running: it uses the new spec from its next start)", Lines(plan));
    }

    [Fact]
    public void ADiskCacheModeChangeIsAnInPlaceVmUpdateTheMapKeeps()
    {
        var config = LoadSample();
        var map = Apply(JoinedMap(config), ConfigPlanner.Plan(config, JoinedMap(config), PlanScope.Default));

        var changed = LoadSample(SampleConfig.Edit("volume = \"vm2-root\"", "volume = \"vm2-root\"\n  cache = \"writethrough\""));
        var plan = ConfigPlanner.Plan(changed, map, PlanScope.Default);
        Assert.Contains("~ vm vm2: disks [vm2-root, shared (nbd) (read-only)] -> [vm2-root (cache writethrough), shared (nbd) (read-only)]", Lines(plan));
        var applied = Apply(map, plan);
        Assert.Equal("writethrough", applied.Vms.Single(vm => vm.Spec.Name == "vm2").Spec.Disks[0].Cache);
        AssertNothingToDo(changed, applied);

        // A text no node understands never reaches the map (a client that skipped the config's check).
        var spec = applied.Vms.Single(vm => vm.Spec.Name == "vm2").Spec.Clone();
        spec.Disks[0].Cache = "unsafe";
        var update = new MapTransaction { BaseEpoch = applied.Epoch };
        update.Changes.Add(new MapChange { VmUpdate = new VmUpdate { Name = "vm2", Spec = spec, Fields = { "spec" } } });
        var refused = MapTransactions.Apply(applied, update, 3_000);
        Assert.False(refused.Ok);
        Assert.Contains("disk vm2-root cache 'unsafe' must be one of \"default\", \"writeback\", \"writethrough\", \"none\"", refused.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusedChangesAreErrorsAndMakeNoChanges()
    {
        var config = LoadSample();
        var map = Apply(JoinedMap(config), ConfigPlanner.Plan(config, JoinedMap(config), PlanScope.Default));

        var text = SampleConfig.Edit("size = \"1GiB\"", "size = \"512MiB\"");
        text = SampleConfig.Edit("kind = \"vlan\"\nvlan = 100", "kind = \"vxlan\"\nvni = 100", text);
        text = SampleConfig.Edit("failure_domain = \"host\"", "failure_domain = \"rack\"", text);
        text = SampleConfig.Edit("object_size = \"4MiB\"", "object_size = \"1MiB\"", text);
        text = SampleConfig.Edit("pg_count = 64", "pg_count = 128", text);
        var changed = LoadSample(text);

        var plan = ConfigPlanner.Plan(changed, map, PlanScope.Default);
        Assert.False(plan.HasChanges, plan.Render());
        var errors = plan.Errors.Select(error => error.ToString()).ToList();
        Assert.Contains(errors, error => error.Contains("volume shared: shrinking from 1GiB to 512MiB would drop data", StringComparison.Ordinal));
        Assert.Contains(errors, error => error.Contains("network lan: kind cannot change (vlan -> vxlan)", StringComparison.Ordinal));
        Assert.Contains(errors, error => error.Contains("pool rbd: failure_domain cannot change (host -> rack)", StringComparison.Ordinal));
        Assert.Contains(errors, error => error.Contains("volume vm1-root: object_size cannot change (4MiB -> 1MiB)", StringComparison.Ordinal));
        var shrink = plan.Errors.Single(error => error.Name == "shared");
        Assert.Equal(SampleConfig.FileName, shrink.Location!.Value.File);
        Assert.Equal(SampleConfig.LineOf(text, "size = \"512MiB\""), shrink.Location.Value.Line);
        Assert.Contains("! volume shared: shrinking", plan.Render(), StringComparison.Ordinal);
        Assert.EndsWith("plan: 0 to create, 0 to change, 0 to delete, 4 refused\n", plan.Render(), StringComparison.Ordinal);
        Assert.Contains($"! volume shared: shrinking from 1GiB to 512MiB would drop data; plans only grow volumes (shrink with the volume resize command if you mean it) [{shrink.Location}]", Lines(plan));
    }

    [Fact]
    public void PgCountChangesOnlyWhileThePoolIsEmpty()
    {
        var config = LoadSample();
        var map = JoinedMap(config);
        var poolsOnly = new PlanScope { Kinds = PlanKinds.Pools };
        map = Apply(map, ConfigPlanner.Plan(config, map, poolsOnly));

        var bigger = LoadSample(SampleConfig.Edit("pg_count = 64", "pg_count = 128"));
        var plan = ConfigPlanner.Plan(bigger, map, poolsOnly);
        Assert.Contains("~ pool rbd: pg_count 64 -> 128", Lines(plan));
        Assert.Equal(128u, Assert.Single(plan.Changes).PoolSet.PgCount);

        var full = Apply(map, ConfigPlanner.Plan(config, map, PlanScope.Default));
        plan = ConfigPlanner.Plan(bigger, full, PlanScope.Default);
        Assert.Contains(plan.Errors, error => error.Message.Contains("pg_count cannot change (64 -> 128) while the pool holds volumes", StringComparison.Ordinal));
    }

    [Fact]
    public void VolumesDoNotMoveBetweenPools()
    {
        var text = SampleConfig.Edit("[[volume]]\nname = \"vm1-root\"", "[[pool]]\nname = \"fast\"\nreplicas = 2\n\n[[volume]]\nname = \"vm1-root\"");
        var config = LoadSample(text);
        var map = Apply(JoinedMap(config), ConfigPlanner.Plan(config, JoinedMap(config), PlanScope.Default));
        var moved = LoadSample(SampleConfig.Edit("pool = \"rbd\"\nsize = \"1GiB\"", "pool = \"fast\"\nsize = \"1GiB\"", text));
        var plan = ConfigPlanner.Plan(moved, map, PlanScope.Default);
        Assert.Contains(plan.Errors, error => error.Message.Contains("it is in pool 'rbd', not 'fast': volumes do not move between pools", StringComparison.Ordinal));
    }

    [Fact]
    public void ANewPoolAndItsVolumesGoInOneTransaction()
    {
        var config = LoadSample();
        var map = Apply(JoinedMap(config), ConfigPlanner.Plan(config, JoinedMap(config), PlanScope.Default));
        var text = SampleConfig.Edit("[[volume]]\nname = \"vm1-root\"", "[[pool]]\nname = \"fast\"\nreplicas = 2\n\n[[volume]]\nname = \"scratch\"\npool = \"fast\"\nsize = \"64MiB\"\n\n[[volume]]\nname = \"vm1-root\"");
        var grown = LoadSample(text);
        var plan = ConfigPlanner.Plan(grown, map, PlanScope.Default);
        Assert.Contains("+ pool fast (2 replicas, min 1, 64 PGs, failure domain host)", Lines(plan));
        Assert.Contains("+ volume scratch (64MiB in pool fast)", Lines(plan));
        var applied = Apply(map, plan);
        Assert.Equal(applied.FindPool("fast")!.Id, applied.FindVolume("scratch")!.PoolId);
        Assert.NotEqual(applied.FindPool("rbd")!.Id, applied.FindPool("fast")!.Id);
        AssertNothingToDo(grown, applied);
    }

    [Fact]
    public void EntriesOnlyInTheMapAreKeptUnlessPruned()
    {
        var config = LoadSample();
        var map = Apply(JoinedMap(config), ConfigPlanner.Plan(config, JoinedMap(config), PlanScope.Default));

        // A config without vm2, its volumes, the lan network and a second pool the map has.
        var text = SampleConfig.Text[..SampleConfig.Text.IndexOf("[[vm]]\nname = \"vm2\"", StringComparison.Ordinal)];
        text = SampleConfig.Edit("[[volume]]\nname = \"vm2-root\"\npool = \"rbd\"\nsize = \"256MiB\"\n\n", string.Empty, text);
        text = SampleConfig.Edit("[[volume]]\nname = \"shared\"\npool = \"rbd\"\nsize = \"1GiB\"\n\n", string.Empty, text);
        text = SampleConfig.Edit("[[network]]\nname = \"lan\"\nkind = \"vlan\"\nvlan = 100\nsubnet = \"10.20.0.0/24\"\ngateway = \"10.20.0.1\"\nmtu = 1500\n\n", string.Empty, text);
        var smaller = LoadSample(text);
        var extraPool = new MapTransaction();
        extraPool.Changes.Add(new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "old", Replicas = 1, MinReplicas = 1, PgCount = 8, FailureDomain = "host" } } });
        map = ApplyOk(map, extraPool);

        var kept = ConfigPlanner.Plan(smaller, map, PlanScope.Default);
        Assert.False(kept.HasChanges, kept.Render());
        var lines = Lines(kept);
        Assert.Contains("? vm vm2 (defined; in the map but not in the config: kept, prune deletes it)", lines);
        Assert.Contains("? volume shared (1GiB; in the map but not in the config: kept, prune deletes it)", lines);
        Assert.Contains("? network lan (vlan 100; in the map but not in the config: kept, prune deletes it)", lines);
        Assert.Contains("? pool old (in the map but not in the config: kept, prune deletes it)", lines);

        var pruned = ConfigPlanner.Plan(smaller, map, new PlanScope { Prune = true });
        Assert.False(pruned.HasErrors, pruned.Render());
        Assert.Equal(
            ["VmDelete vm2", "VolumeDelete vm2-root", "VolumeDelete shared", "NetworkDelete lan", "PoolDelete old"],
            pruned.Changes.Select(change => $"{change.ChangeCase} {NameOf(change)}"));
        Assert.Contains("- vm vm2 (defined)", Lines(pruned));
        var applied = Apply(map, pruned);
        Assert.Null(applied.FindVm("vm2"));
        Assert.Null(applied.FindPool("old"));
        AssertNothingToDo(smaller, applied);
    }

    private static string NameOf(MapChange change) => change.ChangeCase switch
    {
        MapChange.ChangeOneofCase.VmDelete => change.VmDelete.Name,
        MapChange.ChangeOneofCase.VolumeDelete => change.VolumeDelete.Name,
        MapChange.ChangeOneofCase.NetworkDelete => change.NetworkDelete.Name,
        MapChange.ChangeOneofCase.PoolDelete => change.PoolDelete.Name,
        _ => "?",
    };

    [Fact]
    public void PruningARunningVmIsRefusedByTheMap()
    {
        var config = LoadSample();
        var map = Apply(JoinedMap(config), ConfigPlanner.Plan(config, JoinedMap(config), PlanScope.Default));
        var running = new MapTransaction();
        var update = new VmUpdate { Name = "vm2", State = VmState.Running };
        update.Fields.Add("state");
        running.Changes.Add(new MapChange { VmUpdate = update });
        map = ApplyOk(map, running);

        var text = SampleConfig.Text[..SampleConfig.Text.IndexOf("[[vm]]\nname = \"vm2\"", StringComparison.Ordinal)];
        var plan = ConfigPlanner.Plan(LoadSample(text), map, new PlanScope { Prune = true, Kinds = PlanKinds.Vms });
        var error = Assert.Single(plan.Errors);
        Assert.Equal(("vm", "vm2"), (error.Kind, error.Name));
        Assert.Contains("VM vm2 is running; stop it first", error.Message, StringComparison.Ordinal);
        Assert.False(plan.HasChanges);
    }

    [Fact]
    public void AVmPinnedToANodeThatHasNotJoinedWaitsWhileTheRestProceeds()
    {
        var config = LoadSample();
        var map = JoinedMap(config, "n1", "n3");
        var plan = ConfigPlanner.Plan(config, map, PlanScope.Default);
        var error = Assert.Single(plan.Errors);
        Assert.Equal("vm2", error.Name);
        Assert.Contains("pinned to node 'n2', which has not joined the cluster yet", error.Message, StringComparison.Ordinal);
        Assert.Equal(SampleConfig.LineOf(SampleConfig.Text, "node = \"n2\""), error.Location!.Value.Line);
        Assert.Contains("# node n2 (not joined yet: it joins when its daemon starts)", Lines(plan));
        var applied = Apply(map, plan);
        Assert.NotNull(applied.FindVm("vm1"));
        Assert.Null(applied.FindVm("vm2"));
    }

    [Fact]
    public void NodeDifferencesAreReportedNotChanged()
    {
        var config = LoadSample();
        var map = JoinedMap(config);
        var bigger = LoadSample(SampleConfig.Edit("capacity = \"8GiB\"\nvm_memory = \"1GiB\"", "capacity = \"16GiB\"\nvm_memory = \"1GiB\""));
        var plan = ConfigPlanner.Plan(bigger, map, new PlanScope { Kinds = PlanKinds.Nodes });
        Assert.False(plan.HasChanges);
        Assert.Contains("# node n3: capacity 8GiB -> 16GiB (the node updates the map when it rejoins; up, in)", Lines(plan));
    }

    [Fact]
    public void MonitorChangesAreRefused()
    {
        var config = LoadSample();
        var map = JoinedMap(config);
        var text = SampleConfig.Edit("monitors = [\"n1\"]", "monitors = [\"n1\", \"n2\", \"n3\"]");
        text = SampleConfig.Edit("down_out_interval = \"60s\"\n", "down_out_interval = \"60s\"\n[cluster.etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\n", text);
        var plan = ConfigPlanner.Plan(LoadSample(text), map, new PlanScope { Kinds = PlanKinds.Settings });
        var error = Assert.Single(plan.Errors);
        Assert.Contains("the map has [n1] (embedded), the config [n1, n2, n3] (etcd)", error.Message, StringComparison.Ordinal);
        Assert.False(plan.HasChanges);
    }

    [Fact]
    public void AMapOfAnotherClusterIsNotPlannedAgainst()
    {
        var config = LoadSample();
        var map = JoinedMap(config);
        map.ClusterName = "production";
        var plan = ConfigPlanner.Plan(config, map, PlanScope.Default);
        Assert.False(plan.HasChanges);
        Assert.Contains("the config is for cluster 'test' but the map belongs to cluster 'production'", Assert.Single(plan.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ScopeLimitsWhatIsPlanned()
    {
        var config = LoadSample();
        var plan = ConfigPlanner.Plan(config, JoinedMap(config), new PlanScope { Kinds = PlanKinds.Networks });
        Assert.All(plan.Changes, change => Assert.Equal(MapChange.ChangeOneofCase.NetworkUpsert, change.ChangeCase));
        Assert.Equal(2, plan.Changes.Count);
        Assert.All(plan.Lines, line => Assert.Equal("network", line.Kind));

        // Volumes without their pool in the map are refused, not sent to fail the whole transaction.
        plan = ConfigPlanner.Plan(config, JoinedMap(config), new PlanScope { Kinds = PlanKinds.Volumes });
        Assert.Equal(3, plan.Errors.Count);
        Assert.All(plan.Errors, error => Assert.Contains("its pool 'rbd' is not in the map", error.Message, StringComparison.Ordinal));
    }
}
