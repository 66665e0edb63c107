using Fabric.BlockBackend.Cache;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Io;
using Fabric.Node.Vms;
using Fabric.Tests.Shared;
using Microsoft.Extensions.Logging;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// A disk's cache mode on the node (<see cref="NodeVolumeProvider"/> over memory volumes, no cluster): every handle
/// of a volume shares the node's write cache, a write-through handle's writes are durable in the volume when they
/// complete while a default handle's are held in the cache, a write-through handle still reads what the cache holds,
/// and "writeback" on a node without a write cache runs write-through with one warning.
/// </summary>
public sealed class NodeVolumeCacheModeUnitTests
{
    private const int Block = WriteBackVolume.BlockBytes;
    private const string VolumeName = "vm1-root";

    private readonly MemoryBlockVolume _backing = new(VolumeName, 16L << 20);
    private readonly ListLogger _log = new();

    /// <summary>
    /// Write-back happens only when asked (a flush, a FUA write over cached blocks, the last handle closing): the age
    /// limit is an hour, and the cache is far larger than what the tests write.
    /// </summary>
    private static readonly WriteBackOptions HeldWriteCache = new() { MaxDirtyBytes = 8L << 20, MaxDirtyAge = TimeSpan.FromHours(1) };

    private NodeVolumeProvider Provider(WriteBackOptions? writeBack) =>
        new((string name, bool readOnly, out string? error) =>
            {
                error = name == VolumeName ? null : $"volume '{name}' does not exist";
                return error is null ? new NodeVolumeProvider.OpenedVolume(_backing, 4L << 20, () => { }) : null;
            },
            () => [VolumeName], writeBack, _log, nodeName: "n1");

    private static async Task<NodeVolume> OpenAsync(NodeVolumeProvider provider, string holder, DiskCacheMode cache)
    {
        var opened = await provider.OpenAsync(VolumeName, new VolumeOpenOptions(Holder: holder, Cache: cache), CancellationToken.None);
        Assert.Null(opened.Error);
        return Assert.IsType<NodeVolume>(opened.Volume);
    }

    private static byte[] Pattern(byte value) => Enumerable.Repeat(value, Block).ToArray();

    private byte[] OnBacking(long offset)
    {
        var data = new byte[Block];
        Assert.Equal(BlockIoStatus.Ok, _backing.ReadAsync(offset, data, CancellationToken.None).AsTask().GetAwaiter().GetResult());
        return data;
    }

    private static async Task<byte[]> ReadAsync(IBlockVolume volume, long offset)
    {
        var data = new byte[Block];
        Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(offset, data, CancellationToken.None));
        return data;
    }

    [Theory]
    [InlineData(DiskCacheMode.WriteThrough)]
    [InlineData(DiskCacheMode.None)]
    public async Task AWriteThroughHandlesWriteIsInTheVolumeWhenItCompletesWhileADefaultHandlesIsHeldInTheCache(DiskCacheMode mode)
    {
        var provider = Provider(HeldWriteCache);
        await using var disk = await OpenAsync(provider, "vm1", mode);
        await using var tool = await OpenAsync(provider, "nbd export", DiskCacheMode.Default);
        var cache = provider.WriteCacheOf(VolumeName);
        Assert.NotNull(cache);
        Assert.True(disk.WritesThrough);
        Assert.False(tool.WritesThrough);
        // What the disk's device tells the guest (virtio-blk F_FLUSH): only the cached handle has a volatile cache.
        Assert.False(disk.VolatileWriteCache);
        Assert.True(tool.VolatileWriteCache);

        Assert.Equal(BlockIoStatus.Ok, await disk.WriteAsync(0, Pattern(0xA1), fua: false, CancellationToken.None));
        Assert.Equal(Pattern(0xA1), OnBacking(0));
        Assert.Equal(0, cache.DirtyBytes);

        Assert.Equal(BlockIoStatus.Ok, await tool.WriteAsync(Block, Pattern(0xB2), fua: false, CancellationToken.None));
        Assert.Equal(Block, cache.DirtyBytes);
        Assert.Equal(new byte[Block], OnBacking(Block));

        // The write-through handle reads through the shared cache: it sees what the other handle left there.
        Assert.Equal(Pattern(0xB2), await ReadAsync(disk, Block));
        Assert.Equal(new byte[Block], OnBacking(Block));
        Assert.Empty(_log.Lines);
    }

    [Fact]
    public async Task AWriteThroughWriteOverABlockAnotherHandleHasCachedLandsInOrderAndStaysCoherent()
    {
        var provider = Provider(HeldWriteCache);
        await using var disk = await OpenAsync(provider, "vm1", DiskCacheMode.WriteThrough);
        await using var tool = await OpenAsync(provider, "nbd export", DiskCacheMode.Default);
        var cache = provider.WriteCacheOf(VolumeName)!;

        Assert.Equal(BlockIoStatus.Ok, await tool.WriteAsync(0, Pattern(0x11), fua: false, CancellationToken.None));
        Assert.Equal(Block, cache.DirtyBytes);
        Assert.Equal(BlockIoStatus.Ok, await disk.WriteAsync(0, Pattern(0x22), fua: false, CancellationToken.None));

        // The cached older write was written back first, so it never lands over the newer one; both handles read the newer.
        Assert.Equal(0, cache.DirtyBytes);
        Assert.Equal(Pattern(0x22), OnBacking(0));
        Assert.Equal(Pattern(0x22), await ReadAsync(tool, 0));
        Assert.Equal(Pattern(0x22), await ReadAsync(disk, 0));
        Assert.Equal(BlockIoStatus.Ok, await provider.FlushAsync(VolumeName, CancellationToken.None));
        Assert.Equal(Pattern(0x22), OnBacking(0));
    }

    [Fact]
    public async Task WritebackAndDefaultHandlesUseTheNodesWriteCache()
    {
        var provider = Provider(HeldWriteCache);
        await using var disk = await OpenAsync(provider, "vm1", DiskCacheMode.WriteBack);
        var cache = provider.WriteCacheOf(VolumeName)!;
        Assert.False(disk.WritesThrough);
        Assert.True(disk.VolatileWriteCache);

        Assert.Equal(BlockIoStatus.Ok, await disk.WriteAsync(0, Pattern(0x33), fua: false, CancellationToken.None));
        Assert.Equal(Block, cache.DirtyBytes);
        Assert.Equal(new byte[Block], OnBacking(0));
        // A guest's own FUA write is still durable when it completes.
        Assert.Equal(BlockIoStatus.Ok, await disk.WriteAsync(Block, Pattern(0x44), fua: true, CancellationToken.None));
        Assert.Equal(Pattern(0x44), OnBacking(Block));
        Assert.Equal(BlockIoStatus.Ok, await disk.FlushAsync(CancellationToken.None));
        Assert.Equal(Pattern(0x33), OnBacking(0));
        Assert.Empty(_log.Lines);
    }

    [Fact]
    public async Task WritebackOnANodeWithoutAWriteCacheRunsWriteThroughAndWarnsOncePerDisk()
    {
        var provider = Provider(writeBack: null);
        await using (var disk = await OpenAsync(provider, "vm1", DiskCacheMode.WriteBack))
        {
            Assert.Null(provider.WriteCacheOf(VolumeName));
            Assert.Equal(BlockIoStatus.Ok, await disk.WriteAsync(0, Pattern(0x55), fua: false, CancellationToken.None));
            Assert.Equal(Pattern(0x55), OnBacking(0));
        }

        var warning = Assert.Single(_log.Entries);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("VM vm1 asks for cache = \"writeback\" on its disk vm1-root, but node n1 has no write cache, so the disk runs write-through", warning.Line, StringComparison.Ordinal);
        Assert.Contains("set write_cache (e.g. write_cache = \"32MiB\") in the [[node]] table of n1", warning.Line, StringComparison.Ordinal);

        // The VM starting again (or another write-through disk) says nothing new.
        await using (await OpenAsync(provider, "vm1", DiskCacheMode.WriteBack)) { }
        await using (await OpenAsync(provider, "vm2", DiskCacheMode.WriteThrough)) { }
        await using (await OpenAsync(provider, "vm2", DiskCacheMode.Default)) { }
        Assert.Single(_log.Entries);
    }
}
