using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Io;

namespace Fabric.Storage.Tests;

/// <summary>The volume client over three OSDs: striping, thin reads, unaligned I/O, zeroing, bounds.</summary>
public class VolumeClientTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TestCluster _cluster = new(3);
    private ClusterClient? _client;

    public async Task InitializeAsync()
    {
        await _cluster.StartAsync();
        await _cluster.WaitForCleanAsync(Deadline);
        // Small objects (64 KiB) so that ordinary requests span several of them.
        _cluster.CreateVolume("v", 4L << 20, objectSize: 64 << 10);
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

    private VolumeClient Open() => VolumeClient.Open(_client!, "v", out _, maxInFlight: 4)!;

    [Fact]
    public async Task Unwritten_ranges_read_as_zeros()
    {
        VolumeClient volume = Open();
        byte[] buffer = Enumerable.Repeat((byte)0xAA, 300_000).ToArray();
        Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(12345, buffer, default));
        Assert.True(buffer.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        Assert.Empty(_cluster.Objects(1)); // Thin: reading created nothing.
    }

    [Fact]
    public async Task Unaligned_writes_across_objects_read_back_exactly_and_are_striped()
    {
        VolumeClient volume = Open();
        byte[] data = ReplicationTests.Pattern(200_000, 5);
        long offset = 64 * 1024 - 777; // starts 777 bytes before the end of object 0
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(offset, data, false, default));
        byte[] back = new byte[data.Length + 2000];
        Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(offset - 1000, back, default));
        Assert.True(back.AsSpan(0, 1000).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(data, back.AsSpan(1000, data.Length).ToArray());
        Assert.True(back.AsSpan(1000 + data.Length).IndexOfAnyExcept((byte)0) < 0);
        // 200,000 bytes from 777 before an object boundary touch objects 0-4.
        string[] names = _cluster.Objects(1).Keys.Select(k => k.Split('/')[1]).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, 5).Select(i => VolumeClient.ObjectName(1, (ulong)i)).ToArray(), names);
    }

    [Fact]
    public async Task Write_zeroes_and_discard_read_back_as_zeros()
    {
        VolumeClient volume = Open();
        byte[] data = ReplicationTests.Pattern(150_000, 6);
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(0, data, false, default));
        Assert.Equal(BlockIoStatus.Ok, await volume.WriteZeroesAsync(1000, 70_000, default));
        Assert.Equal(BlockIoStatus.Ok, await volume.DiscardAsync(100_000, 10_000, default));
        byte[] back = new byte[150_000];
        Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(0, back, default));
        byte[] expected = (byte[])data.Clone();
        Array.Clear(expected, 1000, 70_000);
        Array.Clear(expected, 100_000, 10_000);
        Assert.Equal(expected, back);
    }

    [Fact]
    public async Task Requests_past_the_end_fail_with_out_of_range()
    {
        VolumeClient volume = Open();
        Assert.Equal(BlockIoStatus.OutOfRange, await volume.WriteAsync((4L << 20) - 10, new byte[20], false, default));
        Assert.Equal(BlockIoStatus.OutOfRange, await volume.ReadAsync(-1, new byte[1], default));
        Assert.Equal(BlockIoStatus.Ok, await volume.FlushAsync(default));
    }

    [Fact]
    public async Task Many_parallel_requests_with_a_bounded_queue_all_complete()
    {
        VolumeClient volume = Open();
        var tasks = new List<Task<BlockIoStatus>>();
        for (int i = 0; i < 64; i++)
        {
            tasks.Add(volume.WriteAsync(i * 65536L + 512, ReplicationTests.Pattern(4096, i), false, default).AsTask());
        }
        Assert.All(await Task.WhenAll(tasks).WaitAsync(Deadline), s => Assert.Equal(BlockIoStatus.Ok, s));
        for (int i = 0; i < 64; i++)
        {
            byte[] back = new byte[4096];
            Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(i * 65536L + 512, back, default));
            Assert.Equal(ReplicationTests.Pattern(4096, i), back);
        }
    }

    [Fact]
    public async Task Import_then_export_gives_back_the_same_bytes()
    {
        VolumeClient volume = Open();
        byte[] image = ReplicationTests.Pattern(3 << 20, 8);
        Array.Clear(image, 1 << 20, 256 << 10); // a zero run stays thin
        var progress = new List<TransferProgress>();
        TransferResult imported = await VolumeTransfer.ImportAsync(volume, new MemoryStream(image), new SyncProgress(progress), default, chunkBytes: 128 << 10);
        Assert.True(imported.Ok, imported.Error);
        Assert.Equal(image.Length, imported.Bytes);
        Assert.Equal(image.Length, progress[^1].BytesDone);
        var exported = new MemoryStream();
        TransferResult result = await VolumeTransfer.ExportAsync(volume, exported, null, default, chunkBytes: 100_000);
        Assert.True(result.Ok, result.Error);
        byte[] all = exported.ToArray();
        Assert.Equal(4 << 20, all.Length);
        Assert.Equal(image, all.AsSpan(0, image.Length).ToArray());
        Assert.True(all.AsSpan(image.Length).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public async Task Import_of_a_file_larger_than_the_volume_is_refused()
    {
        VolumeClient volume = Open();
        TransferResult result = await VolumeTransfer.ImportAsync(volume, new MemoryStream(new byte[5 << 20]), null, default);
        Assert.False(result.Ok);
        Assert.Contains("resize", result.Error);
    }

    [Fact]
    public async Task Benchmark_engine_reports_operations_and_percentiles()
    {
        VolumeClient volume = Open();
        VolumeBenchmarkResult result = await VolumeBenchmark.RunAsync(volume, new VolumeBenchmarkOptions { Duration = TimeSpan.FromMilliseconds(300), QueueDepth = 4, BlockSize = 4096 });
        Assert.True(result.Operations > 0);
        Assert.Equal(0, result.Errors);
        Assert.True(result.P50Micros <= result.P99Micros && result.P99Micros <= result.P999Micros);
    }

    private sealed class SyncProgress(List<TransferProgress> list) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value)
        {
            lock (list)
            {
                list.Add(value);
            }
        }
    }
}
