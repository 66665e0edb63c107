using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Storage.Tests;

/// <summary>Snapshots and clones through the volume client on three OSDs over TCP.</summary>
public class SnapshotCloneTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private const int ObjectSize = 64 << 10;
    private readonly TestCluster _cluster = new(3);
    private ClusterClient? _client;

    public async Task InitializeAsync()
    {
        await _cluster.StartAsync();
        await _cluster.WaitForCleanAsync(Deadline);
        _cluster.CreateVolume("golden", 1L << 20, objectSize: ObjectSize);
        _client = _cluster.NewClient();
    }

    public async Task DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }
        await _cluster.DisposeAsync();
    }

    private VolumeClient Open(string name) => VolumeClient.Open(_client!, name, out string? error, maxInFlight: 8) ?? throw new InvalidOperationException(error);

    private async Task SnapAsync(string volume, string snap, bool protect = false)
    {
        ulong epoch = await _cluster.ApplyAsync(new MapChange { SnapCreate = new SnapCreate { Volume = volume, Snap = snap } });
        if (protect)
        {
            epoch = await _cluster.ApplyAsync(new MapChange { SnapProtect = new SnapProtect { Volume = volume, Snap = snap, Protected = true } });
        }
        await Open(volume).WaitForEpochAsync(epoch, default);
    }

    [Fact]
    public async Task Reading_a_snapshot_gives_the_data_as_it_was_and_rollback_brings_it_back()
    {
        VolumeClient volume = Open("golden");
        byte[] before = ReplicationTests.Pattern(300_000, 1);
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(10_000, before, false, default));
        await SnapAsync("golden", "s1");
        byte[] after = ReplicationTests.Pattern(200_000, 2);
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(50_000, after, false, default));
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteZeroesAsync(400_000, 70_000, default));

        byte[] expectedThen = new byte[1 << 20];
        before.CopyTo(expectedThen, 10_000);
        byte[] expectedNow = (byte[])expectedThen.Clone();
        after.CopyTo(expectedNow, 50_000);
        Array.Clear(expectedNow, 400_000, 70_000);

        VolumeClient snapshot = Open("golden@s1");
        Assert.True(snapshot.ReadOnly);
        Assert.Equal(BlockIoStatus.ReadOnly, await snapshot.WriteAsync(0, new byte[512], false, default));
        Assert.Equal(expectedThen, await ReadAll(snapshot));
        Assert.Equal(expectedNow, await ReadAll(volume));

        Assert.Equal(BlockIoStatus.Ok, await volume.RollbackAsync("s1", null, default));
        Assert.Equal(expectedThen, await ReadAll(volume));
        Assert.Equal(expectedThen, await ReadAll(Open("golden@s1")));
    }

    [Fact]
    public async Task A_clone_reads_its_parent_copies_up_on_first_write_and_leaves_the_parent_alone()
    {
        VolumeClient parent = Open("golden");
        byte[] image = ReplicationTests.Pattern(1 << 20, 3);
        Array.Clear(image, 200_000, 100_000);
        Assert.Equal(BlockIoStatus.Ok, await parent.WriteAsync(0, image, false, default));
        await SnapAsync("golden", "base", protect: true);
        VolumeInfo golden = _cluster.Map.FindVolume("golden")!;
        ulong snapId = golden.Snapshots.Single(s => s.Name == "base").Id;

        // Unprotected snapshots cannot be cloned (the monitor's rule).
        await SnapAsync("golden", "loose");
        ulong loose = _cluster.Map.FindVolume("golden")!.Snapshots.Single(s => s.Name == "loose").Id;
        Assert.Throws<InvalidOperationException>(() => _cluster.CreateVolume("bad", 1L << 20, ObjectSize, new ParentRef { VolumeId = golden.Id, SnapId = loose }));

        VolumeInfo info = _cluster.CreateVolume("child", 1L << 20, ObjectSize, new ParentRef { VolumeId = golden.Id, SnapId = snapId });
        VolumeClient child = Open("child");
        await child.WaitForEpochAsync(_cluster.Map.Epoch, default);
        Assert.Equal(image, await ReadAll(child));
        Assert.DoesNotContain(_cluster.Objects(1).Keys, k => k.Contains($"/v{info.Id}.")); // nothing copied yet

        // Parent changes after the snapshot are not seen by the clone.
        Assert.Equal(BlockIoStatus.Ok, await parent.WriteAsync(0, new byte[8192], false, default));
        Assert.Equal(image, await ReadAll(child));

        byte[] patch = ReplicationTests.Pattern(5000, 4);
        Assert.Equal(BlockIoStatus.Ok, await child.WriteAsync(ObjectSize * 3 + 100, patch, false, default));
        byte[] expected = (byte[])image.Clone();
        patch.CopyTo(expected, ObjectSize * 3 + 100);
        Assert.Equal(expected, await ReadAll(child));
        Assert.Single(_cluster.Objects(1).Keys, k => k.Contains($"/v{info.Id}.")); // one object copied up

        // The parent snapshot is untouched, and the parent cannot be unprotected or removed while the clone exists.
        Assert.Equal(image, await ReadAll(Open("golden@base")));
        Assert.Throws<InvalidOperationException>(() => _cluster.ApplyAsync(new MapChange { VolumeDelete = new VolumeDelete { Name = "golden" } }).GetAwaiter().GetResult());
        Assert.Throws<InvalidOperationException>(() => _cluster.ApplyAsync(new MapChange { SnapProtect = new SnapProtect { Volume = "golden", Snap = "base", Protected = false } }).GetAwaiter().GetResult());

        // Flatten: the clone owns all its data and no longer needs the parent.
        Assert.Equal(BlockIoStatus.Ok, await child.FlattenAsync(_cluster.ProposeAsync, null, default));
        Assert.Null(_cluster.Map.FindVolume("child")!.Parent);
        await _cluster.ApplyAsync(new MapChange { SnapProtect = new SnapProtect { Volume = "golden", Snap = "base", Protected = false } });
        await _cluster.ApplyAsync(new MapChange { SnapDelete = new SnapDelete { Volume = "golden", Snap = "base" } });
        Assert.Equal(BlockIoStatus.Ok, await parent.WriteAsync(0, ReplicationTests.Pattern(1 << 20, 9), false, default));
        Assert.Equal(expected, await ReadAll(Open("child")));
    }

    [Fact]
    public async Task Concurrent_first_writes_to_one_clone_object_all_land_on_the_copied_up_parent_data()
    {
        VolumeClient parent = Open("golden");
        byte[] image = ReplicationTests.Pattern(1 << 20, 11);
        Assert.Equal(BlockIoStatus.Ok, await parent.WriteAsync(0, image, false, default));
        await SnapAsync("golden", "base", protect: true);
        VolumeInfo golden = _cluster.Map.FindVolume("golden")!;
        _cluster.CreateVolume("child", 1L << 20, ObjectSize, new ParentRef { VolumeId = golden.Id, SnapId = golden.Snapshots[0].Id });
        VolumeClient child = Open("child");
        await child.WaitForEpochAsync(_cluster.Map.Epoch, default);
        // Eight writers hit the same (absent) object at once: each copy-up after the first is a no-op
        // and no write is lost under another's copy-up.
        byte[] expected = (byte[])image.Clone();
        var writes = new List<Task<BlockIoStatus>>();
        for (int i = 0; i < 8; i++)
        {
            byte[] block = ReplicationTests.Pattern(4096, 100 + i);
            block.CopyTo(expected, ObjectSize * 2 + i * 8192);
            writes.Add(child.WriteAsync(ObjectSize * 2 + i * 8192, block, false, default).AsTask());
        }
        Assert.All(await Task.WhenAll(writes), s => Assert.Equal(BlockIoStatus.Ok, s));
        Assert.Equal(expected, await ReadAll(child));

        // A clone of a clone reads through both parents.
        await SnapAsync("child", "c1", protect: true);
        VolumeInfo childInfo = _cluster.Map.FindVolume("child")!;
        _cluster.CreateVolume("grandchild", 1L << 20, ObjectSize, new ParentRef { VolumeId = childInfo.Id, SnapId = childInfo.Snapshots[0].Id });
        VolumeClient grandchild = Open("grandchild");
        await grandchild.WaitForEpochAsync(_cluster.Map.Epoch, default);
        Assert.Equal(expected, await ReadAll(grandchild));

        // Rolling the clone back to a snapshot taken before it wrote an object makes that object read
        // through to the parent again.
        byte[] later = ReplicationTests.Pattern(4096, 200);
        Assert.Equal(BlockIoStatus.Ok, await child.WriteAsync(ObjectSize * 5, later, false, default));
        Assert.Equal(BlockIoStatus.Ok, await child.RollbackAsync("c1", null, default));
        Assert.Equal(expected, await ReadAll(child));
    }

    [Fact]
    public async Task Volume_usage_shows_space_shared_until_overwritten()
    {
        VolumeClient volume = Open("golden");
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(0, ReplicationTests.Pattern(1 << 20, 5), false, default));
        await SnapAsync("golden", "s1");
        VolumeUsageReply usage = await UsageAsync();
        Assert.Equal((ulong)(1 << 20), usage.HeadBytes);
        Assert.Equal(0UL, usage.SnapshotBytes);
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(0, ReplicationTests.Pattern(3 * 4096, 6), false, default));
        usage = await UsageAsync();
        Assert.Equal((ulong)(1 << 20), usage.HeadBytes);
        Assert.Equal(3UL * 4096, usage.SnapshotBytes);
    }

    private async Task<VolumeUsageReply> UsageAsync()
    {
        var total = new VolumeUsageReply();
        foreach (var host in _cluster.Hosts.Values)
        {
            VolumeUsageReply one = await host.VolumeUsageAsync(new VolumeUsageRequest { Pool = 1, VolumeId = 1 });
            total.HeadBytes += one.HeadBytes;
            total.SnapshotBytes += one.SnapshotBytes;
            total.Objects += one.Objects;
        }
        return total;
    }

    private static async Task<byte[]> ReadAll(VolumeClient volume)
    {
        byte[] all = new byte[volume.SizeBytes];
        Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(0, all, default));
        return all;
    }
}
