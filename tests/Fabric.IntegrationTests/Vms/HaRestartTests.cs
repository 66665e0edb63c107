using System.Diagnostics;
using Fabric.IntegrationTests.Support;
using Fabric.Proto;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// HA restart through real processes: kill -9 of the node that runs an `ha = true` guest; the guest is placed
/// on another node (its old node's identity blocklisted, its disk lock broken) and runs there with its flushed
/// writes; the dead node, started again, kills the QEMU its dead process left and starts no second copy. The nodes
/// run with a write cache: what the dead node had only in memory is lost, as a disk's cache at a power cut, but
/// nothing the guest flushed.
/// </summary>
public sealed class HaRestartTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);

    [RequiresFact("qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public async Task Kill9_of_the_node_of_an_ha_vm_restarts_it_elsewhere_with_its_data_and_the_node_back_starts_no_second_copy()
    {
        await using var cluster = MigrationCluster.Create(MigrationCluster.WriteCache);
        await GuestImageCache.LinkIntoAsync(cluster.Home);
        await cluster.UpAsync();
        await MigrationCluster.CreateVmsAsync(cluster, "n2", "n3", ha: true);
        var before = await MigrationCluster.WhereAsync(cluster, "a");
        Assert.Equal("n2", before.Node);
        var n2 = (await MigrationCluster.MapAsync(cluster)).Nodes.Single(n => n.Name == "n2");

        var consolePath = Path.Combine(cluster.Home, "run", "n2", "vms", "a", "console.log");
        var killed = Stopwatch.StartNew();
        cluster.Kill9("n2");
        var flushedBefore = VmCli.MaxNumber(await File.ReadAllTextAsync(consolePath), "FLUSHED");

        // Placed elsewhere by HA within grace + 10 s (a deadline for the behaviour; the time is printed, not asserted).
        var moved = await Wait.UntilAsync(() => MigrationCluster.WhereAsync(cluster, "a"), w => w.Node != "n2" && w.Generation > before.Generation, Grace + TimeSpan.FromSeconds(10),
            "HA to place A on another node");
        output.WriteLine($"A placed on {moved.Node} {killed.ElapsedMilliseconds} ms after the kill");
        var running = await Wait.UntilAsync(() => MigrationCluster.WhereAsync(cluster, "a"), w => w.State == VmState.Running, VmCli.Deadline, "A running on its new node");
        output.WriteLine($"A running on {running.Node} {killed.ElapsedMilliseconds} ms after the kill");
        Assert.Equal(moved.Node, running.Node);
        Assert.Equal(moved.Node, running.LockNode);
        var map = await MigrationCluster.MapAsync(cluster);
        Assert.Contains(map.Blocklist, b => b.Identity == $"node.{n2.Id}.{n2.Incarnation}");
        var listed = await VmCli.FindAsync(cluster, "a");
        Assert.StartsWith("HA:", (string)listed!["state_reason"]!);
        Assert.Contains("n2", (string)listed["state_reason"]!);
        await VmCli.WaitConsoleAsync(cluster, "a", @"(?m)^FLUSHED 5\r?$");

        // n2 comes back: no second copy (its old QEMU is killed, the map places A elsewhere).
        await cluster.UpAsync();
        await Wait.UntilAsync(() => MigrationCluster.MapAsync(cluster), m => m.Nodes.All(n => n.State == NodeState.Up), VmCli.Deadline, "n2 back up");
        await Wait.UntilAsync(() => Task.FromResult(MigrationCluster.Qemus(cluster, "a")), q => q.Count == 1 && q[0].Node == running.Node, VmCli.Deadline,
            "one QEMU of A, on its new node, once n2 is back");
        var after = await MigrationCluster.WhereAsync(cluster, "a");
        Assert.Equal((running.Node, running.Generation), (after.Node, after.Generation));

        // The disk: every write flushed before the kill is there.
        var stop = await cluster.CliAsync("vm", "stop", "a", "--json");
        Assert.True(stop.ExitCode == 0, stop.ToString() + "\n" + cluster.Logs());
        var (contiguous, gap) = await MigrationCluster.ReadCounterAsync(cluster, "adisk");
        output.WriteLine($"counter on disk 1..{contiguous}; FLUSHED {flushedBefore} printed before the kill");
        Assert.True(contiguous >= flushedBefore, $"A printed FLUSHED {flushedBefore} before the kill, the disk holds count-1..{contiguous}");
        Assert.Null(gap);
    }
}
