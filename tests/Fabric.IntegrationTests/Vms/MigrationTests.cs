using System.Text.Json.Nodes;
using Fabric.IntegrationTests.Network.Support;
using Fabric.IntegrationTests.Support;
using Fabric.Proto;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// Live migration through real node processes and real TCG guests: guest A writes a counter to its replicated
/// disk with fsync and B (on another node) pings A over VXLAN while A is migrated around the cluster with
/// `fabric vm migrate`; then the failure paths (cancel, destination kill -9 mid-way, source kill -9 after the
/// switch-over) each end with exactly one QEMU of A running, holding the lock, and the counter intact.
/// </summary>
public sealed class MigrationTests(ITestOutputHelper output)
{
    private static readonly string[] Path = ["n3", "n1", "n2", "n1", "n3", "n1", "n2", "n1", "n3", "n1"];

    [RequiresFact("qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public async Task A_guest_migrated_ten_times_keeps_every_flushed_write_its_pings_and_one_mac_location()
    {
        await using var cluster = MigrationCluster.Create(MigrationCluster.WriteCache);
        await GuestImageCache.LinkIntoAsync(cluster.Home);
        await cluster.UpAsync();
        await MigrationCluster.CreateVmsAsync(cluster, "n1", "n2");

        // B's node's switch: where it places A's MAC, sampled through the migrations (never two places at once,
        // and only ever where A is or is going).
        using var admin = new SwitchAdmin("n2", cluster.Grpc("n2"));
        var seen = new List<string>();
        using var stopSampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stopSampling.IsCancellationRequested)
            {
                try
                {
                    var fdb = await admin.FdbAsync("overlay");
                    var entries = fdb.Entries.Where(e => string.Equals(e.Mac, MigrationCluster.MacA, StringComparison.OrdinalIgnoreCase)).ToList();
                    Assert.True(entries.Count <= 1, $"n2's switch has A's MAC in {entries.Count} places: {string.Join(", ", entries)}");
                    var where = entries.Count == 0 ? "" : entries[0].Port.Length > 0 ? "n2" : entries[0].Node;
                    lock (seen) if (where.Length > 0 && (seen.Count == 0 || seen[^1] != where)) seen.Add(where);
                }
                catch (Fabric.Rpc.Protocol.RpcException)
                {
                }
                await Task.Delay(50);
            }
        });

        var from = "n1";
        foreach (var to in Path)
        {
            var report = await MigrationCluster.MigrateAsync(cluster, "a", "--to", to);
            Assert.Equal("completed", (string)report["outcome"]!);
            Assert.Equal(to, (string)report["node"]!);
            output.WriteLine($"{from} -> {to}: total {report["total_time_ms"]} ms, downtime {report["downtime_ms"]} ms, switch-over {report["switchover_ms"]} ms, {report["transferred_bytes"]} bytes");
            var (node, state, lockNode, _) = await Wait.UntilAsync(() => MigrationCluster.WhereAsync(cluster, "a"), w => w.State == VmState.Running, VmCli.Deadline, "A to report running");
            Assert.Equal(to, node);
            Assert.Equal(to, lockNode);
            var qemus = MigrationCluster.Qemus(cluster, "a");
            Assert.True(qemus.Count == 1 && qemus[0].Node == to, $"after {from} -> {to}: QEMUs of A: {string.Join(", ", qemus)}");
            from = to;
        }
        // Drain A's node: the scheduler picks where A goes (not n1), B (on n2) stays.
        var drain = await cluster.CliAsync("node", "drain", "n1", "--json");
        Assert.True(drain.ExitCode == 0, drain.ToString());
        Assert.Empty(drain.Json["left"]!.AsArray());
        var drained = drain.Json["migrations"]!.AsArray().Single()!;
        Assert.Equal("completed", (string)drained["outcome"]!);
        var drainedTo = (string)drained["node"]!;
        Assert.NotEqual("n1", drainedTo);
        Assert.Equal(drainedTo, (await Wait.UntilAsync(() => MigrationCluster.WhereAsync(cluster, "a"), w => w.State == VmState.Running, VmCli.Deadline, "A running after the drain")).Node);
        Assert.Equal("n2", (await MigrationCluster.WhereAsync(cluster, "b")).Node);

        // A keeps writing on its last node.
        await VmCli.WaitCounterAdvancesAsync(cluster, "a", "FLUSHED", 5);
        stopSampling.Cancel();
        await sampler;

        var migrations = (await cluster.CliJsonAsync("vm", "migrations"))["migrations"]!.AsArray();
        Assert.Equal(Path.Length + 1, migrations.Count(m => (string)m!["name"]! == "a" && (string?)m["report"]?["outcome"] == "completed"));

        // B's pings: every loss is one short burst, at most one per migration.
        var pings = MigrationCluster.PingSequence(await VmCli.ConsoleAsync(cluster, "b"));
        var gaps = MigrationCluster.Gaps(pings);
        output.WriteLine($"B got {pings.Count} answers from A; lost bursts: {string.Join(", ", gaps.Select(g => $"seq {g.From} x{g.Count}"))}");
        Assert.True(gaps.Count <= Path.Length + 1, $"{gaps.Count} bursts of lost pings for {Path.Length + 1} migrations");
        Assert.All(gaps, g => Assert.True(g.Count <= 15, $"{g.Count} pings in a row lost from seq {g.From} (3 s at 0.2 s): more than a switch-over"));

        // Where n2 placed A's MAC, in order: along A's path, never elsewhere.
        List<string> locations;
        lock (seen) locations = seen.ToList();
        output.WriteLine("A's MAC on n2's switch: " + string.Join(" -> ", locations));
        var path = new[] { "n1" }.Concat(Path).Append(drainedTo).ToList();
        var k = 0;
        foreach (var location in locations)
        {
            while (k < path.Count && path[k] != location) k++;
            Assert.True(k < path.Count, $"n2 placed A's MAC on {location}, not along A's path {string.Join(",", path)} (seen: {string.Join(",", locations)})");
        }

        // The counter: stop A (its guest syncs), then every block up to the last one it printed as flushed is there, no gap.
        var last = VmCli.MaxNumber(await VmCli.ConsoleAsync(cluster, "a"), "FLUSHED");
        var stop = await cluster.CliAsync("vm", "stop", "a", "--json");
        Assert.True(stop.ExitCode == 0, stop.ToString() + "\n" + cluster.Logs());
        var (contiguous, after) = await MigrationCluster.ReadCounterAsync(cluster, "adisk");
        output.WriteLine($"counter on disk: 1..{contiguous} contiguous; last printed FLUSHED {last}");
        Assert.True(contiguous >= last, $"A printed FLUSHED {last} but the disk holds count-1..{contiguous} only");
        Assert.True(after is null, $"a written block {after} follows the gap after {contiguous}");
    }

    [RequiresFact("qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public async Task Cancel_destination_kill9_and_source_kill9_after_the_switchover_each_leave_one_running_vm_with_its_data()
    {
        await using var cluster = MigrationCluster.Create(MigrationCluster.WriteCache);
        await GuestImageCache.LinkIntoAsync(cluster.Home);
        await cluster.UpAsync();
        await MigrationCluster.CreateVmsAsync(cluster, "n1", "n2");

        // ---- cancel mid-way: stays on n1 ----
        var migrate = cluster.CliAsync("vm", "migrate", "a", "--to", "n3", "--bandwidth", "2", "--json");
        await MigrationCluster.WaitMigratingAsync(cluster, "a", 1 << 20);
        var cancel = await cluster.CliAsync("vm", "migrate", "--cancel", "a", "--json");
        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        var result = await migrate;
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("cancelled", (string)result.Json["outcome"]!);
        await AssertRunsOnlyOnAsync(cluster, "n1", "after the cancel");

        // ---- destination kill -9 mid-way: stays on n1 ----
        migrate = cluster.CliAsync("vm", "migrate", "a", "--to", "n3", "--bandwidth", "2", "--json");
        await MigrationCluster.WaitMigratingAsync(cluster, "a", 1 << 20);
        cluster.Kill9("n3");
        foreach (var q in MigrationCluster.Qemus(cluster, "a").Where(q => q.Node == "n3")) System.Diagnostics.Process.GetProcessById(q.Pid).Kill();
        result = await migrate;
        Assert.Equal(1, result.ExitCode);
        output.WriteLine($"destination killed: {result.Json.ToJsonString()}");
        await AssertRunsOnlyOnAsync(cluster, "n1", "after the destination's kill -9");
        await cluster.UpAsync();
        await Wait.UntilAsync(() => MigrationCluster.MapAsync(cluster), m => m.Nodes.All(n => n.State == NodeState.Up), VmCli.Deadline, "n3 back up");
        Assert.Equal("n1", (await MigrationCluster.WhereAsync(cluster, "a")).Node);

        // ---- source kill -9 once the map shows the switch-over: the destination keeps it ----
        // (n1 runs the monitor, so the source is n3: A goes there first.)
        Assert.Equal("completed", (string)(await MigrationCluster.MigrateAsync(cluster, "a", "--to", "n3"))["outcome"]!);
        await AssertRunsOnlyOnAsync(cluster, "n3", "after a plain migration to n3");
        migrate = cluster.CliAsync("vm", "migrate", "a", "--to", "n2", "--json");
        await Wait.UntilAsync(() => MigrationCluster.WhereAsync(cluster, "a"), w => w.Node == "n2", VmCli.Deadline, "the switch-over to n2 in the map", TimeSpan.FromMilliseconds(20));
        cluster.Kill9("n3");
        output.WriteLine($"source killed after the switch-over: {(await migrate).ToString()}");
        await Wait.UntilAsync(() => MigrationCluster.WhereAsync(cluster, "a"), w => w.State == VmState.Running && w.Node == "n2", VmCli.Deadline, "A running on n2");
        await VmCli.WaitCounterAdvancesAsync(cluster, "a", "FLUSHED", 5);
        // n3 comes back: it kills what its dead process left and starts no second copy.
        await cluster.UpAsync();
        await Wait.UntilAsync(() => Task.FromResult(MigrationCluster.Qemus(cluster, "a")), q => q.Count == 1, VmCli.Deadline, "one QEMU of A once n3 is back");
        await AssertRunsOnlyOnAsync(cluster, "n2", "after the source's kill -9 and its restart");

        var last = VmCli.MaxNumber(await VmCli.ConsoleAsync(cluster, "a"), "FLUSHED");
        var stop = await cluster.CliAsync("vm", "stop", "a", "--json");
        Assert.True(stop.ExitCode == 0, stop.ToString() + "\n" + cluster.Logs());
        var (contiguous, after) = await MigrationCluster.ReadCounterAsync(cluster, "adisk");
        output.WriteLine($"counter on disk: 1..{contiguous}; last printed FLUSHED {last}");
        Assert.True(contiguous >= last, $"A printed FLUSHED {last} but the disk holds count-1..{contiguous} only");
        Assert.Null(after);
    }

    private static async Task AssertRunsOnlyOnAsync(TestCluster cluster, string node, string when)
    {
        var (where, _, lockNode, _) = await Wait.UntilAsync(() => MigrationCluster.WhereAsync(cluster, "a"), w => w.State == VmState.Running, VmCli.Deadline, $"A running {when}");
        Assert.Equal(node, where);
        Assert.Equal(node, lockNode);
        await Wait.UntilAsync(() => Task.FromResult(MigrationCluster.Qemus(cluster, "a")), q => q.Count == 1 && q[0].Node == node, VmCli.Deadline,
            $"exactly one QEMU of A, on {node}, {when}");
        // Its guest runs and writes.
        await VmCli.WaitCounterAdvancesAsync(cluster, "a", "FLUSHED", 3);
    }
}
