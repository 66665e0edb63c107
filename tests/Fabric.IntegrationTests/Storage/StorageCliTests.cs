using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Fabric.Cli.Local;
using Fabric.Core.Io;
using Fabric.IntegrationTests.Support;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.Storage;

/// <summary>
/// The storage verbs of the real `fabric` CLI against real node processes: pools and volumes, a 256 MiB
/// import/export round trip (also with a node down), `fabric osd perf` after it (every OSD, with the import's
/// writes counted; a down one listed as down), and I/O below min_replicas: with two of three nodes
/// down a write waits (neither fails nor is acknowledged), `fabric osd ops` shows it held for min_replicas,
/// and it completes when one node returns.
/// </summary>
public sealed class StorageCliTests(ITestOutputHelper output)
{
    private const string Pool = """

        [[pool]]
        name = "rbd"
        replicas = 3
        min_replicas = 2
        pg_count = 64
        failure_domain = "host"
        """;

    [Fact]
    public async Task Pool_volume_and_osd_perf_verbs_import_export_with_a_node_down_and_writes_wait_below_min_replicas()
    {
        await using var cluster = TestCluster.Create(extra: Pool);
        await cluster.UpAsync();
        await WaitCleanAsync(cluster, 64);

        // ---- pools: create, list, set, refusals that name the fix, rm ----
        var created = await cluster.CliJsonAsync("pool", "create", "scratch", "--replicas", "2", "--pg-count", "8");
        Assert.Equal(2, (int)created["replicas"]!);
        Assert.Equal(2, (int)created["min_replicas"]!);
        var set = await cluster.CliJsonAsync("pool", "set", "scratch", "--min-replicas", "1");
        Assert.Equal(1, (int)set["min_replicas"]!);
        var pools = (await cluster.CliJsonAsync("pool", "list")).AsArray();
        Assert.Equal(new[] { "rbd", "scratch" }, pools.Select(p => (string)p!["name"]!).Order());
        var badPg = await cluster.CliAsync("pool", "create", "odd", "--pg-count", "12");
        Assert.Equal(2, badPg.ExitCode);
        Assert.Contains("power of two", badPg.Stderr);
        var noPool = await cluster.CliAsync("volume", "create", "v", "--size", "1GiB", "--pool", "nope");
        Assert.Equal(1, noPool.ExitCode);
        Assert.Contains("pool nope does not exist: fabric pool create nope", noPool.Stderr);

        // ---- volumes: create, shrink (objects past the end are deleted), grow (reads zeros there), rm ----
        var small = await cluster.CliJsonAsync("volume", "create", "small", "--size", "16MiB", "--pool", "scratch", "--object-size", "1MiB");
        Assert.Equal(16L << 20, (long)small["size_bytes"]!);
        var smallData = RandomNumberGenerator.GetBytes(16 << 20);
        var smallFile = Path.Combine(cluster.Home, "small.img");
        await File.WriteAllBytesAsync(smallFile, smallData);
        await cluster.CliJsonAsync("volume", "import", "small", smallFile);
        Assert.Equal(16, (long)(await cluster.CliJsonAsync("volume", "info", "small", "--du"))["objects_existing"]!);
        var refused = await cluster.CliAsync("volume", "resize", "small", "--size", "5632KiB");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--allow-shrink", refused.Stderr);
        var shrunk = await cluster.CliJsonAsync("volume", "resize", "small", "--size", "5632KiB", "--allow-shrink");
        Assert.True((bool)shrunk["shrunk"]!);
        Assert.Equal(10, (long)shrunk["objects_removed"]!); // objects 6..15 of 1 MiB; object 5 keeps its first half
        Assert.Equal(6, (long)(await cluster.CliJsonAsync("volume", "info", "small", "--du"))["objects_existing"]!);
        await cluster.CliJsonAsync("volume", "resize", "small", "--size", "16MiB");
        var smallOut = Path.Combine(cluster.Home, "small.out");
        await cluster.CliJsonAsync("volume", "export", "small", smallOut);
        var expected = new byte[16 << 20];
        Array.Copy(smallData, expected, 5632 << 10);
        var exported = await File.ReadAllBytesAsync(smallOut);
        Assert.True(expected.SequenceEqual(exported), "after shrink and grow, the volume must hold the old data up to the shrunk size and zeros after it");
        var removed = await cluster.CliJsonAsync("volume", "rm", "small");
        Assert.Equal(6, (long)removed["objects_deleted"]!);
        Assert.DoesNotContain((await cluster.CliJsonAsync("volume", "list")).AsArray(), v => (string)v!["name"]! == "small");
        await cluster.CliJsonAsync("pool", "rm", "scratch");

        // ---- 256 MiB import/export round trip ----
        var image = Path.Combine(cluster.Home, "image.raw");
        var imageData = new byte[256 << 20];
        new Random(256).NextBytes(imageData);
        await File.WriteAllBytesAsync(image, imageData);
        var imported = await cluster.CliJsonAsync("volume", "import", "disk", image, "--create", "--pool", "rbd");
        Assert.True((bool)imported["created"]!);
        Assert.Equal(256L << 20, (long)imported["bytes"]!);
        output.WriteLine($"import 256 MiB: {(double)imported["seconds"]!:0.0} s");
        await AssertExportEqualsAsync(cluster, "disk", imageData, "export with every node up");

        // ---- a volume another client holds locked: writing tools refuse up front, naming the holder and the fix ----
        await cluster.CliJsonAsync("volume", "export-nbd", "disk", "--node", "n2");
        try
        {
            var benchLocked = await cluster.CliAsync("volume", "bench", "disk", "--rw", "write", "--seconds", "1");
            Assert.True(benchLocked.ExitCode != 0, benchLocked.ToString());
            Assert.Contains("exclusive lock is held by", benchLocked.Stderr);
            Assert.Contains(" on n2", benchLocked.Stderr); // the holder's node by name
            Assert.Contains("fabric volume unexport-nbd disk", benchLocked.Stderr);
            var importLocked = await cluster.CliAsync("volume", "import", "disk", image);
            Assert.True(importLocked.ExitCode != 0, importLocked.ToString());
            Assert.Contains("cannot import into volume disk: its exclusive lock is held by", importLocked.Stderr);
            var readBench = await cluster.CliJsonAsync("volume", "bench", "disk", "--rw", "read", "--qd", "1", "--seconds", "1");
            Assert.Equal(0L, (long)readBench["errors"]!); // reading needs no lock
        }
        finally
        {
            await cluster.CliAsync("volume", "unexport-nbd", "disk", "--node", "n2");
        }

        // ---- osd perf: the import's writes, counted per stage by every OSD ----
        var perf = (await cluster.CliJsonAsync("osd", "perf")).AsArray();
        var nodes = (await cluster.CliJsonAsync("node", "list")).AsArray();
        Assert.Equal(nodes.Select(n => (int)n!["id"]!).Order(), perf.Select(o => (int)o!["osd"]!)); // every OSD, sorted by id
        Assert.Equal(cluster.Nodes.Order(), perf.Select(o => (string)o!["node"]!).Order());
        Assert.All(perf, o => Assert.True((bool)o!["reachable"]!, $"osd.{o["osd"]} did not answer: {o["error"]}"));
        Assert.True(perf.Sum(o => (long)o!["stages"]!["write"]!["count"]!) >= 1, $"no OSD counted a client write after a 256 MiB import: {perf.ToJsonString()}");
        Assert.Contains(perf, o => (long)o!["stages"]!["replica_commit"]!["count"]! >= 1);
        Assert.All(perf, o => Assert.True((long)o!["stages"]!["write"]!["count"]! == 0 || (double)o["stages"]!["write"]!["p50_ms"]! > 0, $"osd.{o["osd"]} counted writes of 0 ms"));
        var perfTable = await cluster.CliAsync("osd", "perf");
        Assert.True(perfTable.ExitCode == 0, perfTable.ToString());
        output.WriteLine(perfTable.Stdout);
        Assert.Matches(@"(?m)^\s*OSD\s+NODE\s+WRITES\s+WRITE P50 MS\s", perfTable.Stdout);
        foreach (var o in perf)
        {
            Assert.Single(Regex.Matches(perfTable.Stdout, $@"(?m)^\s*{(int)o!["osd"]!}\s+{(string)o["node"]!}\s+{(long)o["stages"]!["write"]!["count"]!}\s+\d"));
        }

        // ---- with n3 killed: export again while it is down; osd perf still lists it, as down ----
        cluster.Kill9("n3");
        await WaitNodesDownAsync(cluster, "n3");
        await AssertExportEqualsAsync(cluster, "disk", imageData, "export with n3 down");
        var perfDown = (await cluster.CliJsonAsync("osd", "perf")).AsArray();
        Assert.Equal(perf.Count, perfDown.Count);
        var n3 = perfDown.Single(o => (string)o!["node"]! == "n3")!;
        Assert.False((bool)n3["up"]!);
        Assert.Equal("node is down", (string)n3["error"]!);
        var downTable = await cluster.CliAsync("osd", "perf");
        Assert.True(downTable.ExitCode == 0, downTable.ToString());
        Assert.Matches($@"(?m)^\s*{(int)n3["osd"]!}\s+n3\s+down\s", downTable.Stdout);

        // ---- n2 down too: one replica left, below min_replicas 2: a write waits ----
        await using var storage = await StorageTestClient.OpenAsync(cluster);
        await using var volume = await storage.OpenVolumeAsync("disk");
        cluster.Kill9("n2");
        await WaitNodesDownAsync(cluster, "n2", "n3");
        await Wait.UntilAsync(() => Task.FromResult(storage.Client.Map.Nodes.Count(n => n.State == Fabric.Proto.NodeState.Down)), n => n == 2, TimeSpan.FromSeconds(20),
            "the test client to see both nodes down");
        var status = await cluster.CliJsonAsync("status");
        Assert.NotEqual("HEALTH_OK", (string)status["health"]!["status"]!);
        var block = new byte[4096];
        CheckedBlock.Fill(block, 1000, 77);
        var write = volume.WriteAsync(1000 * 4096L, block, fua: false, CancellationToken.None).AsTask();
        // Three seconds is far longer than a write takes with min_replicas met (milliseconds): a write that
        // was going to be acknowledged or failed early would have been by then.
        var early = await Task.WhenAny(write, Task.Delay(TimeSpan.FromSeconds(3)));
        Assert.True(early != write, $"the write completed ({(early == write ? (await write).ToString() : "")}) with one replica of three up (min_replicas 2): it must wait");
        var stuck = await cluster.CliJsonAsync("pg", "list");
        output.WriteLine($"PGs with n2 and n3 down: {stuck["states"]!.ToJsonString()}");

        // ---- osd ops: n1's OSD, the primary left, holds the write and says it waits for min_replicas ----
        var held = (await cluster.CliJsonAsync("osd", "ops", "--older-than", "1s")).AsArray();
        Assert.Equal(perf.Count, held.Count);
        var n1Ops = held.Single(o => (string)o!["node"]! == "n1")!;
        Assert.True((bool)n1Ops["reachable"]!, $"n1's OSD did not answer: {n1Ops["error"]}");
        var heldWrite = Assert.Single(n1Ops["ops"]!.AsArray(), op => (string)op!["kind"]! == "write")!;
        Assert.Equal("min_replicas", (string)heldWrite["wait"]!);
        Assert.True((double)heldWrite["age_seconds"]! >= 1, heldWrite.ToJsonString());
        Assert.Contains("undersized", (string)heldWrite["pg_state"]!);
        Assert.All(held.Where(o => (string)o!["node"]! != "n1"), o => Assert.Equal("node is down", (string)o!["error"]!));
        var heldTable = await cluster.CliAsync("osd", "ops");
        Assert.True(heldTable.ExitCode == 0, heldTable.ToString());
        output.WriteLine(heldTable.Stdout);
        Assert.Matches($@"(?m)^\s*{(int)n1Ops["osd"]!}\s+\d+\.\d\s+write\s+{Regex.Escape((string)heldWrite["object"]!)}\s", heldTable.Stdout);
        Assert.Contains("osd.", heldTable.Stdout);
        Assert.Contains("down: node is down", heldTable.Stdout);

        // Bring back n2 alone: the PG has two replicas again and the write completes.
        StartNode(cluster, "n2");
        var completed = await Task.WhenAny(write, Task.Delay(TimeSpan.FromSeconds(90)));
        Assert.True(completed == write, "the write did not complete within 90 s of n2 returning");
        Assert.Equal(BlockIoStatus.Ok, await write);
        var readBack = new byte[4096];
        Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(1000 * 4096L, readBack, CancellationToken.None));
        Assert.True(block.AsSpan().SequenceEqual(readBack), "the block read back is not the one written");
    }

    private static async Task AssertExportEqualsAsync(TestCluster cluster, string volume, byte[] expected, string what)
    {
        var file = Path.Combine(cluster.Home, "export.raw");
        var result = await cluster.CliAsync("volume", "export", volume, file, "--json");
        Assert.True(result.ExitCode == 0, $"{what}: {result}");
        var actual = await File.ReadAllBytesAsync(file);
        Assert.Equal(expected.Length, actual.Length);
        int firstDifference = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(firstDifference == expected.Length, $"{what}: the exported bytes differ from the imported file at byte {firstDifference}");
        File.Delete(file);
    }

    private static Task WaitCleanAsync(TestCluster cluster, int pgs) =>
        Wait.UntilAsync(() => cluster.CliJsonAsync("pg", "list"), j => (int?)j["states"]?["active+clean"] == pgs, TimeSpan.FromSeconds(60), $"{pgs} PGs active+clean");

    private static Task WaitNodesDownAsync(TestCluster cluster, params string[] nodes) =>
        Wait.UntilAsync(() => cluster.CliJsonAsync("status"), s => nodes.All(n => s["nodes"]!["down"]!.AsArray().Any(d => (string)d! == n)), TimeSpan.FromSeconds(30),
            $"{string.Join(", ", nodes)} marked down");

    /// <summary>Starts one node of the cluster the way `fabric up` does (it restarts every missing node).</summary>
    private static void StartNode(TestCluster cluster, string node)
    {
        var processes = new LocalProcesses(cluster.Home);
        processes.StartDetached("node-" + node, NodeBinary.DotnetHost(),
            [Repo.NodeDll, "run", "--config", Path.Combine(cluster.Home, "cluster.toml"), "--name", node, "--home", cluster.Home]);
    }
}
