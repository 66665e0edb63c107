using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.IntegrationTests.Storage;
using Fabric.IntegrationTests.Support;
using Fabric.Membership.Client;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.DataServices;

/// <summary>
/// Snapshots, clones and the exclusive lock with fencing, with real node processes and the real CLI:
/// <list type="bullet">
/// <item>snapshot, overwrite, read the snapshot (old data), `volume du` (space shared until overwritten),
/// rollback (old data in the head), snapshot removal (its space is trimmed);</item>
/// <item>a clone of a 1 GiB golden volume is created without copying data and reads like the parent;
/// writes to the clone leave the parent alone; the parent cannot be removed while it has a clone;
/// flatten detaches the clone;</item>
/// <item>fencing: process A holds the volume's lock and writes; it is stopped (SIGSTOP), its lock is
/// broken (A is blocklisted first) and taken by B, which writes; when A continues (SIGCONT) every write
/// it issues is refused by the OSDs, and B's data is intact.</item>
/// </list>
/// </summary>
public sealed class SnapshotCloneFencingTests(ITestOutputHelper output)
{
    private const int MiB = 1 << 20;

    private const string Config = """

        [[pool]]
        name = "rbd"
        replicas = 3
        min_replicas = 2
        pg_count = 32
        failure_domain = "host"

        [[volume]]
        name = "snapvol"
        pool = "rbd"
        size = "16MiB"
        object_size = "1MiB"

        [[volume]]
        name = "golden"
        pool = "rbd"
        size = "1GiB"

        [[volume]]
        name = "vmdisk"
        pool = "rbd"
        size = "16MiB"
        object_size = "1MiB"
        """;

    [Fact]
    public async Task Snapshots_rollback_clones_of_a_golden_volume_and_fencing_of_a_stopped_lock_holder()
    {
        string benchDll = Path.Combine(Repo.Bin("Fabric.Bench"), "Fabric.Bench.dll");
        if (!File.Exists(benchDll))
        {
            Assert.Fail($"{benchDll} is missing: build the solution (./test.sh builds it) for the fencing writer");
        }
        await using var cluster = TestCluster.Create(extra: Config);
        await cluster.UpAsync();
        await DataServicesCluster.WaitCleanAsync(cluster);
        await using var client = await StorageTestClient.OpenAsync(cluster);
        await SnapshotsAsync(cluster, client);
        await ClonesAsync(cluster, client);
        await FencingAsync(cluster, client, benchDll);
    }

    private async Task SnapshotsAsync(TestCluster cluster, StorageTestClient client)
    {
        VolumeClient volume = await client.OpenVolumeAsync("snapvol");
        byte[] before = RandomNumberGenerator.GetBytes(16 * MiB);
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(0, before, false, default));
        JsonNode snap = await cluster.CliJsonAsync("volume", "snap", "create", "snapvol@s1");
        await volume.WaitForEpochAsync((ulong)snap["epoch"]!, default);

        byte[] overwrite = RandomNumberGenerator.GetBytes(8 * MiB);
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(4 * MiB, overwrite, false, default));
        byte[] after = (byte[])before.Clone();
        overwrite.CopyTo(after, 4 * MiB);
        Assert.True((await ReadAllAsync(volume)).AsSpan().SequenceEqual(after));
        VolumeClient snapshot = await client.OpenVolumeAsync("snapvol@s1");
        Assert.True((await ReadAllAsync(snapshot)).AsSpan().SequenceEqual(before), "the snapshot does not hold the data as it was");

        JsonNode du = await cluster.CliJsonAsync("volume", "du", "snapvol");
        output.WriteLine(du.ToJsonString());
        Assert.Equal(16L * MiB, (long)du["head_bytes"]!);
        Assert.Equal(8L * MiB, (long)du["snapshot_bytes"]!); // only the overwritten blocks are kept twice
        Assert.Equal(new[] { "s1" }, (await cluster.CliJsonAsync("volume", "snap", "list", "snapvol")).AsArray().Select(s => (string)s!["name"]!));

        await cluster.CliJsonAsync("volume", "snap", "rollback", "snapvol@s1");
        Assert.True((await ReadAllAsync(volume)).AsSpan().SequenceEqual(before), "rollback did not bring the snapshot's data back");
        await cluster.CliJsonAsync("volume", "snap", "rm", "snapvol@s1");
        await Wait.UntilAsync(() => cluster.CliJsonAsync("volume", "du", "snapvol"), j => (long)j["snapshot_bytes"]! == 0,
            TimeSpan.FromSeconds(60), "the removed snapshot's blocks to be trimmed");
        Assert.True((await ReadAllAsync(volume)).AsSpan().SequenceEqual(before));
    }

    private async Task ClonesAsync(TestCluster cluster, StorageTestClient client)
    {
        // A 1 GiB golden image with 64 MiB of data in 16 places (the rest is thin).
        VolumeClient golden = await client.OpenVolumeAsync("golden");
        byte[] image = new byte[1024 * MiB];
        for (int i = 0; i < 16; i++)
        {
            RandomNumberGenerator.Fill(image.AsSpan(i * 64 * MiB, 4 * MiB));
            Assert.Equal(BlockIoStatus.Ok, await golden.WriteAsync(i * 64L * MiB, image.AsMemory(i * 64 * MiB, 4 * MiB), false, default));
        }
        await cluster.CliJsonAsync("volume", "snap", "create", "golden@base");
        CliResult unprotected = await cluster.CliAsync("volume", "clone", "golden@base", "child");
        Assert.NotEqual(0, unprotected.ExitCode);
        Assert.Contains("protect", unprotected.Stderr);
        await cluster.CliJsonAsync("volume", "snap", "protect", "golden@base");

        var clock = Stopwatch.StartNew();
        JsonNode clone = await cluster.CliJsonAsync("volume", "clone", "golden@base", "child");
        output.WriteLine($"clone of 1 GiB created in {clock.ElapsedMilliseconds} ms (CLI process included): {clone.ToJsonString()}");
        JsonNode cloneUsage = await cluster.CliJsonAsync("volume", "du", "child");
        Assert.Equal(0, (long)cloneUsage["objects"]!); // no data copied
        Assert.Equal(0, (long)cloneUsage["head_bytes"]!);

        VolumeClient child = await client.OpenVolumeAsync("child");
        await child.WaitForEpochAsync((ulong)clone["epoch"]!, default);
        await AssertContentAsync(child, image, "the clone does not read like its parent");

        // Writes to the clone (into an object with parent data and into a thin one) leave the parent alone.
        (long Offset, byte[] Data)[] patches = [(64L * MiB + 100 * 4096, RandomNumberGenerator.GetBytes(4096)), (20L * MiB + 3000, RandomNumberGenerator.GetBytes(8192))];
        foreach ((long offset, byte[] data) in patches)
        {
            Assert.Equal(BlockIoStatus.Ok, await child.WriteAsync(offset, data, false, default));
        }
        VolumeClient goldenSnap = await client.OpenVolumeAsync("golden@base");
        foreach ((long offset, byte[] data) in patches)
        {
            foreach (VolumeClient parent in new[] { golden, goldenSnap })
            {
                byte[] back = new byte[data.Length];
                Assert.Equal(BlockIoStatus.Ok, await parent.ReadAsync(offset, back, default));
                Assert.True(back.AsSpan().SequenceEqual(image.AsSpan((int)offset, data.Length)), $"a write to the clone changed {parent.Name}");
            }
            data.CopyTo(image, offset);
        }
        await AssertContentAsync(child, image, "the clone lost its own writes or its parent's data");
        Assert.Equal(2, (long)(await cluster.CliJsonAsync("volume", "du", "child"))["objects"]!); // copied up on first write

        CliResult parentRm = await cluster.CliAsync("volume", "rm", "golden");
        Assert.NotEqual(0, parentRm.ExitCode);
        Assert.Contains("clone", parentRm.Stderr);

        await cluster.CliJsonAsync("volume", "flatten", "child");
        Assert.Equal("", (string)(await cluster.CliJsonAsync("volume", "info", "child"))["parent"]!);
        await cluster.CliJsonAsync("volume", "snap", "unprotect", "golden@base");
        await cluster.CliJsonAsync("volume", "snap", "rm", "golden@base");
        await AssertContentAsync(await client.OpenVolumeAsync("child"), image, "flatten lost data");
    }

    private async Task FencingAsync(TestCluster cluster, StorageTestClient client, string benchDll)
    {
        // A: a lock holder that keeps writing, with its local lock check off so that only the OSDs can stop it.
        var writer = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { benchDll, "volume-writer", "--monitor", cluster.Grpc("n1"), "--volume", "vmdisk", "--identity", "client.fence-a",
            "--lock", "--no-local-lock-check", "--bytes", (1 * MiB).ToString(), "--qd", "2", "--seed", "11", "--stop-after-fenced", "8", "--seconds", "240", "--log-every-write" })
        {
            writer.ArgumentList.Add(arg);
        }
        using Process a = Process.Start(writer)!;
        var lines = new List<JsonNode>();
        var counts = new Dictionary<string, int>();
        var stderr = a.StandardError.ReadToEndAsync();
        var reader = Task.Run(async () =>
        {
            while (await a.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (lines)
                {
                    JsonNode parsed = JsonNode.Parse(line)!;
                    lines.Add(parsed);
                    string kind = (string)parsed["event"]!;
                    counts[kind] = counts.GetValueOrDefault(kind) + 1;
                }
            }
        });
        int Count(string kind)
        {
            // Counted by the reader as lines arrive: the writer logs every write, and rescanning them
            // all on each poll would starve the very process under test of CPU.
            lock (lines)
            {
                return counts.GetValueOrDefault(kind);
            }
        }
        var clock = Stopwatch.StartNew();
        try
        {
            await Wait.UntilAsync(() => Count("ok") >= 50 || a.HasExited, TimeSpan.FromSeconds(60), "writer A to lock the volume and write");
            if (a.HasExited)
            {
                // (Only here: awaiting stderr completes when the writer exits.)
                Assert.Fail("writer A exited early: " + await stderr);
            }
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: writer A wrote {Count("ok")} blocks");
            JsonNode locks = await cluster.CliJsonAsync("volume", "lock", "ls");
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: lock ls done");
            Assert.Equal("client.fence-a", (string)locks.AsArray().Single(l => (string)l!["volume"]! == "vmdisk")!["owner"]!);

            // A is cut off: stopped. Its lock is broken (after blocklisting it) and B takes the lock.
            if (a.HasExited)
            {
                string last;
                lock (lines)
                {
                    last = string.Join(" ", lines.TakeLast(5).Select(l => l.ToJsonString()));
                }
                Assert.Fail($"writer A exited before it was cut off (exit code {a.ExitCode}); its last events: {last}; stderr: {await stderr}");
            }
            TestCluster.Signal(a.Id, "STOP");
            JsonNode broken = await cluster.CliJsonAsync("volume", "lock", "break", "vmdisk");
            Assert.Equal("client.fence-a", (string)broken["fenced"]!);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: A stopped, its lock broken at epoch {broken["epoch"]}");
            using var monitors = new MonitorClient([cluster.Grpc("n1")], TimeSpan.FromSeconds(10));
            VolumeClient b = await client.OpenVolumeAsync("vmdisk");
            await b.WaitForEpochAsync((ulong)broken["epoch"]!, default);
            await b.AcquireLockAsync(VolumeLocks.ProposerOf(monitors), "writer B", default);
            byte[] bData = RandomNumberGenerator.GetBytes(1 * MiB);
            Assert.Equal(BlockIoStatus.Ok, await b.WriteAsync(0, bData, false, default));

            // A continues: whatever it issues now is refused by the OSDs.
            long resumedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            TestCluster.Signal(a.Id, "CONT");
            await a.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(120)).Token);
            await reader;
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: A continued and exited");
            List<JsonNode> afterResume;
            lock (lines)
            {
                afterResume = lines.Where(l => l["issued_unix_ms"] is not null && (long)l["issued_unix_ms"]! > resumedUnixMs).ToList();
            }
            output.WriteLine($"writer A: {lines.Count} events, {afterResume.Count} writes issued after SIGCONT; stderr: {await stderr}");
            // Every write A issued after it continued was refused. The writer stops itself after 8 refusals,
            // which cancels the writes its other workers still have in flight ("Cancelled": never applied).
            Assert.DoesNotContain(afterResume, l => (string)l["event"]! == "ok");
            Assert.True(afterResume.Count(l => (string?)l["status"] == "Fenced") >= 8, "writer A's writes after it continued were not refused as fenced");
            Assert.All(afterResume, l => Assert.Contains((string)l["status"]!, new[] { "Fenced", "Cancelled" }));

            byte[] back = new byte[1 * MiB];
            Assert.Equal(BlockIoStatus.Ok, await b.ReadAsync(0, back, default));
            Assert.True(back.AsSpan().SequenceEqual(bData), "B's data was overwritten by the fenced writer");
            long fencedAtOsds = 0;
            foreach (var node in client.Client.Map.Nodes)
            {
                var status = await DataServicesCluster.OsdStatusAsync(node);
                fencedAtOsds += (long)status.FencedWrites;
            }
            Assert.True(fencedAtOsds >= 8, $"the OSDs counted {fencedAtOsds} refused writes");
            await b.ReleaseLockAsync(VolumeLocks.ProposerOf(monitors), default);
        }
        finally
        {
            if (!a.HasExited)
            {
                TestCluster.Signal(a.Id, "CONT");
                a.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>Reads a volume in 64 MiB pieces and compares it with the expected bytes.</summary>
    private static async Task AssertContentAsync(VolumeClient volume, byte[] expected, string message)
    {
        Assert.Equal(expected.LongLength, volume.SizeBytes);
        byte[] piece = new byte[64 * MiB];
        for (long offset = 0; offset < expected.LongLength; offset += piece.Length)
        {
            int length = (int)Math.Min(piece.Length, expected.LongLength - offset);
            Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(offset, piece.AsMemory(0, length), default));
            Assert.True(piece.AsSpan(0, length).SequenceEqual(expected.AsSpan((int)offset, length)), $"{message} (in the 64 MiB from {offset})");
        }
    }

    private static async Task<byte[]> ReadAllAsync(VolumeClient volume)
    {
        byte[] all = new byte[volume.SizeBytes];
        Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(0, all, default));
        return all;
    }
}
