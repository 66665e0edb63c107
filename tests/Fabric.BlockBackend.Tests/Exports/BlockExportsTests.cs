using Fabric.BlockBackend.Cache;
using Fabric.BlockBackend.Exports;
using Fabric.BlockBackend.Tests.Support;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Io;
using Fabric.Core.Vm;

namespace Fabric.BlockBackend.Tests.Exports;

public sealed class BlockExportsTests(ITestOutputHelper output)
{
    private const long MiB = 1 << 20;

    [Fact]
    public async Task Migration_sequence_moves_the_lock_and_the_cache_with_it()
    {
        using var dir = new TempDir();
        var provider = new MemoryVolumeProvider();
        var volume = provider.Add("vm1-disk0", 16 * MiB);
        using var cache = new BlockCache(new BlockCacheOptions { Enabled = true, MemoryBytes = 4 << 20, IndexBytes = 1 << 16 });
        var events = new List<string>();
        var options = new BlockExportsOptions
        {
            SocketDirectory = dir["sockets"],
            NbdSocketPath = dir["nbd.sock"],
            AcquireLock = (v, _) => { lock (events) { events.Add("acquire " + v.Name); } return ValueTask.FromResult<string?>(null); },
            ReleaseLock = (v, _) => { lock (events) { events.Add("release " + v.Name); } return ValueTask.FromResult<string?>(null); },
        };
        await using var source = new BlockExports(provider, options, cache, new ListLogger(output));
        await using var destination = new BlockExports(provider, options with { SocketDirectory = dir["sockets2"], NbdSocketPath = dir["nbd2.sock"] }, cache, new ListLogger(output));

        var src = await source.ExportAsync(new DiskExportRequest("vm1-disk0-g1", "vm1-disk0", "vhost-user", false, true, "vm1"), default);
        Assert.Null(src.Error);
        Assert.True(File.Exists(src.SocketPath));
        Assert.True(source.CacheOf("vm1-disk0-g1")!.Enabled);

        // The guest writes through the source disk.
        using (var c = new RawVhostUserClient(src.SocketPath!))
        {
            c.SetUp();
            Assert.Equal(0, c.Run(0, 1, 8, Enumerable.Repeat((byte)0x42, 4096).ToArray(), 0, out _));
        }

        var dst = await destination.ExportAsync(new DiskExportRequest("vm1-disk0-g2", "vm1-disk0", "nbd", false, false, "vm1"), default);
        Assert.Null(dst.Error);
        Assert.Equal("vm1-disk0-g2", dst.NbdExportName);
        Assert.False(destination.CacheOf("vm1-disk0-g2")!.Enabled); // no lock yet: no cache

        Assert.Null(await source.FlushAndReleaseAsync("vm1-disk0-g1", default));
        Assert.False(source.CacheOf("vm1-disk0-g1")!.Enabled);
        Assert.Null(await destination.AcquireLockAsync("vm1-disk0-g2", default));
        Assert.True(destination.CacheOf("vm1-disk0-g2")!.Enabled);
        Assert.Equal(["acquire vm1-disk0", "release vm1-disk0", "acquire vm1-disk0"], events);

        // The destination serves the same bytes over NBD under the export id.
        await using (var n = await RawNbdClient.OpenAsync(dst.SocketPath!, dst.NbdExportName!))
        {
            var (err, data) = await n.ReadAsync(4096, 4096);
            Assert.Equal(0u, err);
            Assert.All(data, b => Assert.Equal(0x42, b));
        }

        await source.RemoveAsync("vm1-disk0-g1", default);
        Assert.False(File.Exists(src.SocketPath));
        Assert.Empty(source.ExportIds);
        // The source gave its lock away at the switch-over: removing its export releases nothing more.
        Assert.Equal(["acquire vm1-disk0", "release vm1-disk0", "acquire vm1-disk0"], events);

        // The VM stops on the destination: its export gives the lock back.
        await destination.RemoveAsync("vm1-disk0-g2", default);
        Assert.Equal(["acquire vm1-disk0", "release vm1-disk0", "acquire vm1-disk0", "release vm1-disk0"], events);
    }

    /// <summary>Opens memory volumes and remembers the options of each open.</summary>
    private sealed class RecordingProvider : IBlockVolumeProvider
    {
        private readonly MemoryVolumeProvider _volumes = new();

        public List<VolumeOpenOptions> Opens { get; } = new();

        public void Add(string name, long sizeBytes) => _volumes.Add(name, sizeBytes);

        public ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken)
        {
            lock (Opens) Opens.Add(options);
            return _volumes.OpenAsync(volumeName, options, cancellationToken);
        }

        public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) => _volumes.ListAsync(cancellationToken);
    }

    [Fact]
    public async Task A_disks_cache_mode_reaches_the_volume_provider()
    {
        using var dir = new TempDir();
        var provider = new RecordingProvider();
        provider.Add("v", MiB);
        await using var exports = new BlockExports(provider, new BlockExportsOptions { SocketDirectory = dir["s"] });
        Assert.Null((await exports.ExportAsync(new("e1", "v", "vhost-user", false, true, "vm1", DiskCacheMode.WriteThrough), default)).Error);
        Assert.Null((await exports.ExportAsync(new("e2", "v", "vhost-user", true, false, "vm2"), default)).Error);
        Assert.Equal(
            [new VolumeOpenOptions(true, false, "vm1", DiskCacheMode.WriteThrough), new VolumeOpenOptions(false, true, "vm2", DiskCacheMode.Default)],
            provider.Opens);
    }

    [Fact]
    public async Task Bad_requests_are_refused_with_a_reason()
    {
        using var dir = new TempDir();
        var provider = new MemoryVolumeProvider();
        provider.Add("v", MiB);
        await using var exports = new BlockExports(provider, new BlockExportsOptions
        {
            SocketDirectory = dir["s"],
            AcquireLock = (_, _) => ValueTask.FromResult<string?>("locked by node-2"),
        });
        Assert.Contains("cannot open volume 'nope'", (await exports.ExportAsync(new("e1", "nope", "vhost-user", false, false, "t"), default)).Error);
        Assert.Contains("transport", (await exports.ExportAsync(new("e1", "v", "iscsi", false, false, "t"), default)).Error);
        Assert.Contains("no NBD server", (await exports.ExportAsync(new("e1", "v", "nbd", false, false, "t"), default)).Error);
        Assert.Contains("must be letters", (await exports.ExportAsync(new("../x", "v", "vhost-user", false, false, "t"), default)).Error);
        Assert.Contains("locked by node-2", (await exports.ExportAsync(new("e1", "v", "vhost-user", false, true, "t"), default)).Error);
        Assert.Null((await exports.ExportAsync(new("e1", "v", "vhost-user", false, false, "t"), default)).Error);
        Assert.Contains("already exists", (await exports.ExportAsync(new("e1", "v", "vhost-user", false, false, "t"), default)).Error);
        Assert.Contains("locked by node-2", await exports.AcquireLockAsync("e1", default));
    }
}
