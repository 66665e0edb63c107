using Fabric.IntegrationTests.Support;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.Storage;

/// <summary>
/// Replicated storage through a node failure, with real node processes: a writer keeps writing
/// checksummed blocks to a 3-replica volume while a node is killed with SIGKILL and later restarted;
/// every acknowledged write must read back, and `fabric status` must tell the story a user expects
/// (degraded, then recovering, then clean).
/// </summary>
public sealed class StorageRecoveryTests(ITestOutputHelper output)
{
    private const string Pool = """

        [[pool]]
        name = "rbd"
        replicas = 3
        min_replicas = 2
        pg_count = 64
        failure_domain = "host"

        [[volume]]
        name = "journal"
        pool = "rbd"
        size = "256MiB"
        """;

    [Fact]
    public async Task Acknowledged_writes_survive_kill_9_and_restart_and_status_shows_degraded_recovering_clean()
    {
        await using var cluster = TestCluster.Create(extra: Pool);
        // Recovery limited to 8 MiB/s per primary, and a writer of 4 workers (an object a client waits for is
        // recovered at once, past the limit): pushing the 256 MiB volume's objects then takes several seconds, so the
        // status samples (one CLI process each, 0.5-1.5 s apart) see it. Unlimited, with 16 workers, it was over
        // between two samples once the store journal made writes and pushes faster.
        var slowRecovery = new Dictionary<string, string> { ["FABRIC_OSD_RECOVERY_MIBPS"] = "8" };
        await cluster.UpAsync(slowRecovery);
        await using var recorder = new StatusRecorder(cluster);
        await recorder.WaitForAsync(s => s.Clean && s.Total == 64, TimeSpan.FromSeconds(60), "64 PGs active+clean after up");

        await using var storage = await StorageTestClient.OpenAsync(cluster);
        await using var volume = await storage.OpenVolumeAsync("journal");
        var writer = new ChecksummedWriter(volume, workers: 4, seed: 4);
        // Every object full before the failure: recovery then has whole 4 MiB objects to push, long
        // enough for `fabric status` to see it happen.
        await writer.FillAsync();
        writer.Start();
        await Wait.UntilAsync(() => Task.FromResult(writer.AckedWrites), n => n >= 200, TimeSpan.FromSeconds(60), "200 acknowledged writes before the failure");

        cluster.Kill9("n3");
        var degraded = await recorder.WaitForAsync(s => s.Degraded && s.NodesDown.Contains("n3"), TimeSpan.FromSeconds(30), "PGs degraded with n3 down");
        Assert.Equal("HEALTH_WARN", degraded.Health);
        // Keep writing while n3 is down: these writes touch every object, so every object needs recovery.
        var before = writer.AckedWrites;
        await Wait.UntilAsync(() => Task.FromResult(writer.AckedWrites - before), n => n >= 1500, TimeSpan.FromSeconds(120),
            "1500 writes acknowledged while n3 is down (I/O continues with 2 of 3 replicas)");
        Assert.Empty(writer.Failures);

        await cluster.UpAsync(slowRecovery);
        var clean = await recorder.WaitForAsync(s => s.Clean && s.NodesDown.Count == 0, TimeSpan.FromSeconds(180), "PGs active+clean again after n3 returned");
        Assert.Equal("HEALTH_OK", clean.Health);
        await writer.StopAsync();
        Assert.Empty(writer.Failures);
        output.WriteLine($"{writer.AckedWrites} writes acknowledged, longest {writer.MaxLatency.TotalMilliseconds:0} ms");

        // Every block holds exactly its last acknowledged write, read through a fresh client.
        await using (var reader = await StorageTestClient.OpenAsync(cluster))
        {
            await using var readVolume = await reader.OpenVolumeAsync("journal");
            var (bad, problems) = await writer.VerifyAsync(readVolume);
            Assert.True(bad == 0, $"{bad} block(s) do not hold their last acknowledged write:\n{string.Join("\n", problems)}");
        }

        // The PGs themselves agree (every primary reports active+clean, no degraded object).
        var pgs = await cluster.CliJsonAsync("pg", "list");
        Assert.Equal(64, (int)pgs["total"]!);
        Assert.Equal(64, (int)pgs["states"]!["active+clean"]!);
        Assert.Equal(0, (long)pgs["degraded_objects"]!);

        var story = recorder.Story();
        output.WriteLine("fabric status during the run:\n" + story);
        var samples = recorder.Samples;
        int firstDegraded = samples.ToList().FindIndex(s => s.Degraded);
        int firstRecovering = samples.ToList().FindIndex(s => s.Recovering);
        Assert.True(firstDegraded >= 0, "status never showed degraded PGs:\n" + story);
        Assert.True(firstRecovering > firstDegraded, "status never showed recovering (or backfilling) PGs after degraded ones:\n" + story);
        Assert.True(samples[^1].Clean, "status did not end clean:\n" + story);
    }
}
