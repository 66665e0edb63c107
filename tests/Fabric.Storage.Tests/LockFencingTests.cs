using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Storage.Tests;

/// <summary>The exclusive lock and fencing on three OSDs over TCP; the test plays the monitor.</summary>
public class LockFencingTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Only_the_lock_holder_writes_and_a_cut_off_holder_is_fenced_after_the_lock_is_broken()
    {
        await using var cluster = new TestCluster(3);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        cluster.CreateVolume("vm-disk", 1L << 20, objectSize: 64 << 10);

        // A's client follows its own map source, which the test stops updating to cut A off from the monitor.
        var aMaps = new StaticMapSource(cluster.Map);
        await using var aClient = new ClusterClient(aMaps, "node.1.1", resendTimeoutMs: 2000);
        await using ClusterClient bClient = cluster.NewClient("node.2.1");
        VolumeClient a = VolumeClient.Open(aClient, "vm-disk", out _)!;
        VolumeClient b = VolumeClient.Open(bClient, "vm-disk", out _)!;

        await a.AcquireLockAsync(async (tx, ct) =>
        {
            ulong epoch = await cluster.ProposeAsync(tx, ct);
            aMaps.Publish(cluster.Map);
            return epoch;
        }, "vm A", default);
        Assert.NotEqual(0UL, a.LockEpoch);
        Assert.Equal(BlockIoStatus.Ok, await a.WriteAsync(0, ReplicationTests.Pattern(8192, 1), false, default));

        // B does not hold the lock: the OSDs refuse its writes.
        await b.WaitForEpochAsync(cluster.Map.Epoch, default);
        Assert.Equal(BlockIoStatus.Fenced, await b.WriteAsync(0, new byte[512], false, default));
        // Taking a held lock fails (the monitor's rule).
        await Assert.ThrowsAsync<InvalidOperationException>(() => b.AcquireLockAsync(cluster.ProposeAsync, "vm B", default));

        // A is cut off; its lock is broken after blocklisting it, and B takes the lock.
        (ulong fenceEpoch, string? fenced) = await VolumeLocks.BreakAsync(cluster.Map, "vm-disk", "node 1 declared dead", cluster.ProposeAsync, default);
        Assert.Equal("node.1.1", fenced);
        Assert.True(cluster.Map.IsBlocklisted("node.1.1"));
        await b.AcquireLockAsync(cluster.ProposeAsync, "vm B", default);
        Assert.True(b.LockEpoch >= fenceEpoch);
        byte[] bData = ReplicationTests.Pattern(8192, 2);
        Assert.Equal(BlockIoStatus.Ok, await b.WriteAsync(0, bData, false, default));

        // A still believes it holds the lock (its map is old), but every OSD has the blocklist.
        Assert.True(a.HoldsLock);
        Assert.Equal(BlockIoStatus.Fenced, await a.WriteAsync(0, ReplicationTests.Pattern(8192, 3), false, default));
        Assert.Equal(BlockIoStatus.Fenced, await a.WriteAsync(100_000, ReplicationTests.Pattern(4096, 4), false, default));
        byte[] back = new byte[8192];
        Assert.Equal(BlockIoStatus.Ok, await b.ReadAsync(0, back, default));
        Assert.Equal(bData, back);
        long fencedWrites = 0;
        foreach (var host in cluster.Hosts.Values)
        {
            fencedWrites += (long)(await host.OsdStatusAsync(new OsdStatusRequest())).FencedWrites;
        }
        Assert.True(fencedWrites >= 3, $"{fencedWrites} fenced writes counted");

        // Once A learns the new map it fails writes by itself, without asking the OSDs.
        aMaps.Publish(cluster.Map);
        await a.WaitForEpochAsync(cluster.Map.Epoch, default);
        Assert.False(a.HoldsLock);
        Assert.Equal(BlockIoStatus.Fenced, await a.WriteAsync(0, new byte[512], false, default));
    }

    [Fact]
    public async Task A_lock_epoch_from_an_earlier_tenure_is_refused_and_release_frees_the_volume()
    {
        await using var cluster = new TestCluster(3);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        cluster.CreateVolume("v", 1L << 20, objectSize: 64 << 10);
        await using ClusterClient client = cluster.NewClient("client.tool");
        VolumeClient volume = VolumeClient.Open(client, "v", out _)!;
        await volume.AcquireLockAsync(cluster.ProposeAsync, "first", default);
        ulong first = volume.LockEpoch;
        await volume.ReleaseLockAsync(cluster.ProposeAsync, default);
        await volume.AcquireLockAsync(cluster.ProposeAsync, "second", default);
        Assert.NotEqual(first, volume.LockEpoch);
        string name = VolumeObjectName.Format(volume.VolumeId, 0);
        ObjectResult stale = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = name, Kind = OsdOpKind.OsdOpWrite, Data = new byte[4096], LockEpoch = first });
        Assert.Equal(ObjectStatus.NotLockOwner, stale.Status);
        ObjectResult current = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = name, Kind = OsdOpKind.OsdOpWrite, Data = new byte[4096], LockEpoch = volume.LockEpoch });
        Assert.Equal(ObjectStatus.Ok, current.Status);
        await volume.ReleaseLockAsync(cluster.ProposeAsync, default);
        // Unlocked: writers that claim no lock may write again.
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(0, new byte[4096], false, default));
    }
}
