using Fabric.Core.Io;
using Fabric.IntegrationTests.DataServices;
using Fabric.IntegrationTests.Support;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.Storage;

/// <summary>
/// A node the monitor marks down while its process keeps running (here: stopped with SIGSTOP past the heartbeat
/// grace, as a long GC pause or a stalled machine would) rejoins with a new incarnation when it continues. Its OSD is
/// the same process with the same store and must serve as the new incarnation: before, it took the map's entry for
/// another process, counted itself not up for good, and the PGs it leads had no primary (writes to them waited
/// without end).
/// </summary>
public sealed class RejoinTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_node_marked_down_while_running_rejoins_and_its_osd_leads_its_pgs_again()
    {
        await using var cluster = TestCluster.Create(extra: DataServicesCluster.SmallPool);
        await cluster.UpAsync();
        await DataServicesCluster.WaitCleanAsync(cluster);
        // n2 opens a volume before it is marked down: its storage client exists with the first incarnation's identity.
        bool qemuIo = Prerequisite.Which("qemu-io") is not null || Prerequisite.InCi;
        if (qemuIo)
        {
            var readOnly = await cluster.CliJsonAsync("volume", "export-nbd", "data", "--read-only", "--node", "n2");
            await using (var reader = new Fabric.IntegrationTests.Vms.QemuIoSession((string)readOnly["unix_uri"]!, readOnly: true))
            {
                Assert.Contains("read 4096/4096", await reader.RunAsync("read 0 4k"));
            }
            await cluster.CliJsonAsync("volume", "unexport-nbd", "data", "--node", "n2");
        }

        cluster.Signal("n2", "STOP");
        try
        {
            await Wait.UntilAsync(() => cluster.CliJsonAsync("status"), s => s["nodes"]!["down"]!.AsArray().Any(d => (string)d! == "n2"),
                TimeSpan.FromSeconds(30), "the monitor to mark the stopped n2 down");
        }
        finally
        {
            cluster.Signal("n2", "CONT");
        }
        // Its next heartbeat is refused (that incarnation is down): it rejoins as incarnation 2, same process.
        await Wait.UntilAsync(() => cluster.CliJsonAsync("node", "list"),
            l => l.AsArray().Any(n => (string)n!["name"]! == "n2" && (string)n["state"]! == "up" && (int)n["incarnation"]! == 2),
            TimeSpan.FromSeconds(30), "n2 to rejoin as incarnation 2");
        Assert.Contains("rejoining", File.ReadAllText(Path.Combine(cluster.Home, "log", "node-n2.log")));

        // Every PG has its primary again, n2's share included.
        await DataServicesCluster.WaitCleanAsync(cluster, TimeSpan.FromSeconds(60));
        await using var storage = await StorageTestClient.OpenAsync(cluster);
        await using var volume = await storage.OpenVolumeAsync("data");
        var ledByN2 = storage.ObjectsLedBy(volume, "n2");
        int objects = (int)(volume.SizeBytes / volume.ObjectSize);
        Assert.NotEmpty(ledByN2);
        output.WriteLine($"{ledByN2.Count} of {objects} objects in PGs n2 leads");

        var block = new byte[4096];
        var back = new byte[4096];
        foreach (int i in ledByN2)
        {
            long offset = (long)i * volume.ObjectSize;
            CheckedBlock.Fill(block, offset / 4096, 2);
            var write = volume.WriteAsync(offset, block, fua: false, CancellationToken.None).AsTask();
            var done = await Task.WhenAny(write, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(done == write, $"a write to object {i} (a PG n2 leads) was not answered within 30 s of the cluster being clean");
            Assert.Equal(BlockIoStatus.Ok, await write);
            Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(offset, back, CancellationToken.None));
            Assert.True(block.AsSpan().SequenceEqual(back), $"object {i}: the block read back is not the one written");
        }

        // The rejoined node locks and writes a volume as its new incarnation (its storage client follows the identity).
        if (!qemuIo) return;
        var export = await cluster.CliJsonAsync("volume", "export-nbd", "data", "--node", "n2");
        try
        {
            await using var io = new Fabric.IntegrationTests.Vms.QemuIoSession((string)export["unix_uri"]!);
            var wrote = await io.RunAsync("write -P 0x42 0 64k");
            Assert.DoesNotContain("failed", wrote);
            Assert.Contains("wrote 65536/65536", wrote);
            Assert.Contains("read 65536/65536", await io.RunAsync("read -P 0x42 0 64k"));
        }
        finally
        {
            await cluster.CliAsync("volume", "unexport-nbd", "data", "--node", "n2");
        }
    }
}
