using Fabric.Client.Objects;
using Fabric.Proto;
using Fabric.Storage.Osd;

namespace Fabric.Storage.Tests;

/// <summary>The OSD's latency counters (OsdPerfCounters) count each stage of real replicated ops once, where it
/// happens: three OSDs over real TCP (TestCluster).</summary>
public class OsdPerfCountersTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_replicated_write_and_a_read_count_each_stage_once_at_the_osd_where_it_happens()
    {
        await using var cluster = new TestCluster(3);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        await using ClusterClient client = cluster.NewClient();
        ObjectResult written = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "counted", Kind = OsdOpKind.OsdOpWrite, Data = new byte[8192] });
        Assert.Equal(ObjectStatus.Ok, written.Status);
        ObjectResult read = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "counted", Kind = OsdOpKind.OsdOpRead, Destination = new byte[8192] });
        Assert.Equal(ObjectStatus.Ok, read.Status);

        int primary = cluster.Hosts.Single(h => h.Value.Perf.WriteOp.Count > 0).Key;
        OsdPerfCounters p = cluster.Hosts[primary].Perf;
        Assert.Equal(1, p.WriteOp.Count);
        Assert.Equal(1, p.WritePrepare.Count);
        Assert.Equal(1, p.LocalCommit.Count);
        Assert.Equal(2, p.ReplicaAck.Count);
        Assert.Equal(1, p.ReadOp.Count);
        Assert.Equal(0, p.ReplicaCommit.Count);
        // Each stage lies inside the whole: the write's p50 bounds its parts (one sample each).
        Assert.True(p.WritePrepare.PercentileMicros(1) <= p.WriteOp.PercentileMicros(1));
        Assert.True(p.ReplicaAck.PercentileMicros(1) <= p.WriteOp.PercentileMicros(1));
        // `fabric osd perf` reads the same counters from the OSD's status: every stage in order, counted or not.
        OsdStatusReply status = await cluster.Hosts[primary].OsdStatusAsync(new OsdStatusRequest());
        Assert.Equal(p.Stages().Select(s => s.Stage), status.Stages.Select(s => s.Stage));
        OsdStageLatency write = status.Stages.Single(s => s.Stage == "write");
        Assert.Equal(1UL, write.Count);
        Assert.Equal(p.WriteOp.SumMicros / 1e6, write.SumSeconds);
        Assert.Equal(p.WriteOp.PercentileMicros(0.5) / 1e6, write.P50Seconds);
        Assert.Equal(p.WriteOp.PercentileMicros(0.99) / 1e6, write.P99Seconds);
        Assert.Equal(2UL, status.Stages.Single(s => s.Stage == "write_replica_ack").Count);
        Assert.Equal(0UL, status.Stages.Single(s => s.Stage == "replica_commit").Count);
        foreach ((int id, OsdHost host) in cluster.Hosts.Where(h => h.Key != primary))
        {
            // A replica records its commit just after sending its reply, so the client can be answered first.
            await WaitForAsync(() => host.Perf.ReplicaCommit.Count == 1, $"osd.{id} to count its replicated write");
            Assert.Equal(0, host.Perf.WriteOp.Count);
            Assert.Equal(0, host.Perf.ReadOp.Count);
        }
    }

    [Fact]
    public async Task A_refused_op_is_not_counted_as_a_completed_write()
    {
        await using var cluster = new TestCluster(3);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        await using ClusterClient client = cluster.NewClient();
        ObjectResult result = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "absent", Kind = OsdOpKind.OsdOpWrite, Data = new byte[4096], RequireExists = true });
        Assert.Equal(ObjectStatus.NoObject, result.Status);
        Assert.All(cluster.Hosts.Values, h => Assert.Equal(0, h.Perf.WriteOp.Count));
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(Deadline);
        while (!condition())
        {
            try
            {
                await Task.Delay(10, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }
        }
    }
}
