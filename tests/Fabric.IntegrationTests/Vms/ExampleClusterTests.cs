using Fabric.IntegrationTests.Support;
using Fabric.Membership.Client;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// `fabric up` of cluster.example.toml (its pool, volumes, networks and VMs as written, on this test's own
/// loopback addresses): both VMs run, on different nodes, each with a disk of the 3-replica pool, and ping each
/// other over the VXLAN network, which the test reads on the guests' serial consoles.
/// </summary>
public sealed class ExampleClusterTests
{
    private static string ExampleBody()
    {
        var text = File.ReadAllText(Path.Combine(Repo.Root, "cluster.example.toml"));
        // The example's own [cluster] and [[node]] tables are the test cluster's (same shape, private addresses).
        return text[text.IndexOf("[[pool]]", StringComparison.Ordinal)..];
    }

    [RequiresFact("qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public async Task Up_boots_the_example_vms_on_different_nodes_with_replicated_disks_and_they_ping_over_vxlan()
    {
        await using var cluster = TestCluster.Create(3, ExampleBody());
        await GuestImageCache.LinkIntoAsync(cluster.Home);
        var up = await CliRun.RunAsync(["up", cluster.ConfigPath, "--home", cluster.Home, "--json"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(up.ExitCode == 0, $"fabric up failed: {up}\n{cluster.Logs()}");
        var vms = up.Json["vms"]!.AsArray();
        Assert.Equal(["vm1", "vm2"], vms.Select(v => (string)v!["name"]!).Order());
        Assert.All(vms, v => Assert.Equal("running", (string)v!["state"]!));

        var list = (await cluster.CliJsonAsync("vm", "list")).AsArray();
        var nodes = list.ToDictionary(v => (string)v!["name"]!, v => (string)v!["node"]!);
        Assert.All(list, v => Assert.Equal("running", (string)v!["state"]!));
        Assert.NotEqual(nodes["vm1"], nodes["vm2"]);

        using var monitors = new MonitorClient([cluster.Grpc("n1")]);
        var map = await monitors.GetLatestMapAsync(CancellationToken.None);
        foreach (var vm in map.Vms)
        {
            var volume = map.Volumes.Single(v => v.Name == vm.Spec.Disks.Single().Volume);
            Assert.Equal(3u, map.Pools.Single(p => p.Id == volume.PoolId).Replicas);
            // The VM's node holds the disk's exclusive lock.
            Assert.Equal(vm.NodeId, volume.Lock.NodeId);
        }

        await VmCli.WaitConsoleAsync(cluster, "vm1", @"bytes from 10\.10\.0\.12");
        await VmCli.WaitConsoleAsync(cluster, "vm2", @"bytes from 10\.10\.0\.11");
    }
}
