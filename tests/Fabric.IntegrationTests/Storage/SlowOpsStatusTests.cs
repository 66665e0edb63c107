using System.Text.Json.Nodes;
using Fabric.IntegrationTests.DataServices;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Storage;

/// <summary>
/// Slow ops reach the operator as Ceph's do: a replica that stops answering (SIGSTOP, with a heartbeat grace long
/// enough that the monitor does not mark it down) holds a write at its primary; `fabric status` turns HEALTH_WARN
/// with SLOW_OPS naming the primary and what the op waits for, and clears once the replica answers again.
/// </summary>
public sealed class SlowOpsStatusTests
{
    private static IEnumerable<JsonNode> Checks(JsonNode status) => status["health"]!["checks"]!.AsArray().Select(c => c!);

    [Fact]
    public async Task A_write_held_by_a_stopped_replica_shows_as_slow_ops_until_the_replica_answers()
    {
        await using var cluster = TestCluster.Create(extra: DataServicesCluster.SmallPool, graceText: "50s");
        await cluster.UpAsync(new Dictionary<string, string> { ["FABRIC_SLOW_OP_SECONDS"] = "1" });
        await DataServicesCluster.WaitCleanAsync(cluster);
        await using var storage = await StorageTestClient.OpenAsync(cluster);
        await using var volume = await storage.OpenVolumeAsync("data");
        var map = storage.Client.Map;
        uint n1 = map.Nodes.Single(n => n.Name == "n1").Id;
        // An object n1 leads: n1 holds the write while n3, a replica of every PG here, is stopped.
        int index = storage.ObjectsLedBy(volume, "n1")[0];
        long offset = (long)index * volume.ObjectSize;

        cluster.Signal("n3", "STOP");
        Task<Fabric.Core.Io.BlockIoStatus> write;
        try
        {
            write = volume.WriteAsync(offset, new byte[4096], fua: false, CancellationToken.None).AsTask();
            var status = await Wait.UntilAsync(() => cluster.CliJsonAsync("status"), s => Checks(s).Any(c => (string)c["code"]! == "SLOW_OPS"),
                TimeSpan.FromSeconds(60), "fabric status to report the held write as a slow op");
            var check = Checks(status).Single(c => (string)c["code"]! == "SLOW_OPS");
            Assert.Equal("HEALTH_WARN", (string)status["health"]!["status"]!);
            uint n3 = map.Nodes.Single(n => n.Name == "n3").Id;
            var message = (string)check["message"]!;
            Assert.True(message.Contains($"on osd.{n1} (OsdOpWrite") && message.Contains($"replicas not acked: osd.{n3}"), message);
            Assert.False(write.IsCompleted, "the write completed although a replica of its PG was stopped");
        }
        finally
        {
            cluster.Signal("n3", "CONT");
        }
        Assert.Equal(Fabric.Core.Io.BlockIoStatus.Ok, await write.WaitAsync(TimeSpan.FromSeconds(60)));
        await Wait.UntilAsync(() => cluster.CliJsonAsync("status"), s => !Checks(s).Any(c => (string)c["code"]! == "SLOW_OPS"),
            TimeSpan.FromSeconds(60), "the slow op to leave fabric status once the replica answered");
    }
}
