using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;

namespace Fabric.Storage.Tests;

/// <summary>Three OSDs in this process over real TCP on 127.0.0.1-3.</summary>
public class ReplicationTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_write_is_on_every_replica_and_reads_back()
    {
        await using var cluster = new TestCluster(3);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        await using ClusterClient client = cluster.NewClient();
        byte[] data = Pattern(8192, 1);
        ObjectResult written = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "obj", Kind = OsdOpKind.OsdOpWrite, Offset = 4096, Data = data });
        Assert.Equal(ObjectStatus.Ok, written.Status);
        byte[] back = new byte[12288];
        ObjectResult read = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "obj", Kind = OsdOpKind.OsdOpRead, Offset = 0, Destination = back });
        Assert.Equal(ObjectStatus.Ok, read.Status);
        Assert.True(back.AsSpan(0, 4096).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(data, back[4096..]);
        foreach (int osd in new[] { 1, 2, 3 })
        {
            ObjectMeta meta = Assert.Single(cluster.Objects(osd)).Value;
            Assert.Equal(written.Version, meta.Version);
            Assert.Equal(12288UL, meta.Size);
        }
    }

    [Fact]
    public async Task A_write_is_acknowledged_only_when_durable_on_every_replica()
    {
        // OSD 3's disk holds back durability until the test syncs it; OSDs 1 and 2 sync at once.
        await using var cluster = new TestCluster(3, storeFactory: id => new MemoryObjectStore(autoSync: id != 3));
        MemoryObjectStore slow = cluster.Stores[3];
        using var syncer = new CancellationTokenSource();
        await cluster.StartAsync();
        Task background = Task.Run(async () =>
        {
            // Lets peering complete; stops while the write below is checked.
            while (!syncer.IsCancellationRequested && !Volatile.Read(ref _holdSync))
            {
                slow.Sync();
                await Task.Delay(5);
            }
        });
        await cluster.WaitForCleanAsync(Deadline);
        Volatile.Write(ref _holdSync, true);
        await Task.Delay(50);
        slow.Sync();
        await using ClusterClient client = cluster.NewClient();
        Task<ObjectResult> write = client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "held", Kind = OsdOpKind.OsdOpWrite, Data = Pattern(4096, 2) });
        // Wait until OSD 3 has the write (visible, not durable), then check the client still waits.
        using (var cts = new CancellationTokenSource(Deadline))
        {
            while (slow.PendingCount == 0)
            {
                await Task.Delay(10, cts.Token);
            }
        }
        await Task.Delay(300);
        Assert.False(write.IsCompleted, "acknowledged before the third replica was durable");
        slow.Sync();
        Assert.Equal(ObjectStatus.Ok, (await write.WaitAsync(Deadline)).Status);
        syncer.Cancel();
        Volatile.Write(ref _holdSync, false);
        await background;
    }

    private static bool _holdSync;

    [Fact]
    public async Task A_stopped_osd_catches_up_by_log_recovery_after_restart()
    {
        await using var cluster = new TestCluster(3);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        VolumeInfo info = cluster.CreateVolume("vol", 64L << 20, objectSize: 1 << 20);
        await using ClusterClient client = cluster.NewClient();
        IBlockVolume volume = VolumeClient.Open(client, "vol", out _)!;
        await WriteBlocks(volume, 0, 32, seed: 10);
        await cluster.StopOsdAsync(3);
        await WriteBlocks(volume, 16, 48, seed: 20); // degraded: 2 of 3
        await cluster.StartOsdAsync(3);
        await cluster.WaitForCleanAsync(Deadline);
        Assert.Equal(cluster.Objects(1), cluster.Objects(3));
        Assert.Equal(cluster.Objects(2), cluster.Objects(3));
        await VerifyBlocks(volume, 0, 16, seed: 10);
        await VerifyBlocks(volume, 16, 48, seed: 20);
    }

    [Fact]
    public async Task An_empty_osd_is_backfilled()
    {
        // A short log so that the replaced disk cannot be recovered from the log.
        await using var cluster = new TestCluster(3, new OsdOptions { MaxLogEntries = 4, RetransmitMs = 300, WriteRetransmitMs = 1500 });
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        cluster.CreateVolume("vol", 64L << 20, objectSize: 1 << 20);
        await using ClusterClient client = cluster.NewClient();
        IBlockVolume volume = VolumeClient.Open(client, "vol", out _)!;
        await WriteBlocks(volume, 0, 64, seed: 3);
        await cluster.StopOsdAsync(2);
        cluster.Stores[2] = new MemoryObjectStore(autoSync: true); // a new, empty disk
        await cluster.StartOsdAsync(2);
        await cluster.WaitForCleanAsync(Deadline);
        Assert.Equal(cluster.Objects(1), cluster.Objects(2));
        await VerifyBlocks(volume, 0, 64, seed: 3);
    }

    [Fact]
    public async Task Below_min_replicas_io_waits_and_completes_when_a_member_returns()
    {
        await using var cluster = new TestCluster(3);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        await using ClusterClient client = cluster.NewClient();
        await cluster.StopOsdAsync(2);
        await cluster.StopOsdAsync(3);
        var writes = new List<Task<ObjectResult>>();
        for (int i = 0; i < 8; i++)
        {
            writes.Add(client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = $"o{i}", Kind = OsdOpKind.OsdOpWrite, Data = Pattern(4096, i) }));
        }
        await Task.Delay(1000);
        Assert.All(writes, w => Assert.False(w.IsCompleted, "a write completed with one replica of three up"));
        await cluster.StartOsdAsync(3);
        ObjectResult[] results = await Task.WhenAll(writes).WaitAsync(Deadline);
        Assert.All(results, r => Assert.Equal(ObjectStatus.Ok, r.Status));
        await cluster.StartOsdAsync(2);
        await cluster.WaitForCleanAsync(Deadline);
        for (int i = 0; i < 8; i++)
        {
            byte[] back = new byte[4096];
            Assert.Equal(ObjectStatus.Ok, (await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = $"o{i}", Kind = OsdOpKind.OsdOpRead, Destination = back })).Status);
            Assert.Equal(Pattern(4096, i), back);
        }
    }

    [Fact]
    public async Task A_corrupted_block_is_never_returned_and_is_repaired_from_a_replica()
    {
        await using var cluster = new TestCluster(3);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        await using ClusterClient client = cluster.NewClient();
        byte[] data = Pattern(16384, 9);
        Assert.Equal(ObjectStatus.Ok, (await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "c", Kind = OsdOpKind.OsdOpWrite, Data = data })).Status);
        PgId pg = PlacementMap.ObjectToPg(cluster.Map.Pools[0], "c");
        int primary = PlacementMap.Build(cluster.Map).Get(pg)!.Primary;
        Span<byte> prefix = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(prefix, StoreKeys.DataKind, pg.Packed);
        Assert.True(cluster.Stores[primary].FlipRandomBit(new Random(1), prefix[..n]));
        byte[] back = new byte[16384];
        ObjectResult read = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "c", Kind = OsdOpKind.OsdOpRead, Destination = back }).WaitAsync(Deadline);
        Assert.Equal(ObjectStatus.Ok, read.Status);
        Assert.Equal(data, back);
        await cluster.WaitForCleanAsync(Deadline);
    }

    [Fact]
    public async Task Restarted_osds_know_their_newest_write_and_log_tail_and_go_on_numbering_after_it()
    {
        // Writes do not put the PG info record again (only LastUpdate moves, and the log entry in the same batch
        // says it); a trim does (the log tail moves). After a restart of every OSD, each must know the newest
        // write from its log, or the next write would reuse its version.
        var options = new OsdOptions { RetransmitMs = 300, WriteRetransmitMs = 1500, MaxLogEntries = 4 };
        await using var cluster = new TestCluster(3, options, pgCount: 1);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        ObjectResult last = default!;
        await using (ClusterClient client = cluster.NewClient())
        {
            for (int i = 0; i < 7; i++)
            {
                last = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "obj", Kind = OsdOpKind.OsdOpWrite, Data = Pattern(4096, i) });
                Assert.Equal(ObjectStatus.Ok, last.Status);
            }
        }
        var before = new Dictionary<int, PgStatus>();
        foreach (int osd in new[] { 1, 2, 3 })
        {
            before[osd] = Assert.Single((await cluster.Hosts[osd].ListPgsAsync(new ListPgsRequest())).Pgs);
            Assert.Equal(last.Version, before[osd].LogHead);
            Assert.NotEqual(0UL, before[osd].LogTail); // trimmed at least once
        }
        foreach (int osd in new[] { 1, 2, 3 })
        {
            await cluster.StopOsdAsync(osd);
        }
        foreach (int osd in new[] { 1, 2, 3 })
        {
            await cluster.StartOsdAsync(osd);
        }
        await cluster.WaitForCleanAsync(Deadline);
        foreach (int osd in new[] { 1, 2, 3 })
        {
            PgStatus after = Assert.Single((await cluster.Hosts[osd].ListPgsAsync(new ListPgsRequest())).Pgs);
            Assert.Equal(last.Version, after.LogHead);
            Assert.Equal(before[osd].LogTail, after.LogTail);
        }
        await using (ClusterClient client = cluster.NewClient())
        {
            ObjectResult next = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "obj", Kind = OsdOpKind.OsdOpWrite, Offset = 4096, Data = Pattern(4096, 99) });
            Assert.Equal(ObjectStatus.Ok, next.Status);
            Assert.True(next.Version > last.Version, $"the write after the restart got version {next.Version}, not after {last.Version}");
            byte[] back = new byte[8192];
            Assert.Equal(ObjectStatus.Ok, (await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "obj", Kind = OsdOpKind.OsdOpRead, Destination = back })).Status);
            Assert.Equal(Pattern(4096, 6), back[..4096]);
            Assert.Equal(Pattern(4096, 99), back[4096..]);
        }
    }

    internal static byte[] Pattern(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static async Task WriteBlocks(IBlockVolume volume, int first, int last, int seed)
    {
        var tasks = new List<Task<BlockIoStatus>>();
        for (int i = first; i < last; i++)
        {
            tasks.Add(volume.WriteAsync(i * 1_048_576L + 4096, Pattern(8192, seed + i), false, default).AsTask());
        }
        Assert.All(await Task.WhenAll(tasks).WaitAsync(Deadline), s => Assert.Equal(BlockIoStatus.Ok, s));
    }

    private static async Task VerifyBlocks(IBlockVolume volume, int first, int last, int seed)
    {
        for (int i = first; i < last; i++)
        {
            byte[] back = new byte[8192];
            Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(i * 1_048_576L + 4096, back, default));
            Assert.Equal(Pattern(8192, seed + i), back);
        }
    }
}
