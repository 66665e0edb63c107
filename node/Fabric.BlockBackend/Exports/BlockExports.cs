using System.Collections.Concurrent;
using Fabric.BlockBackend.Cache;
using Fabric.BlockBackend.Nbd;
using Fabric.BlockBackend.VhostUser;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Io;
using Fabric.Core.Vm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.BlockBackend.Exports;

/// <summary>
/// The node's VM disks as the hypervisor sees them (<see cref="IVmDisks"/>): each export opens a volume
/// through the provider and serves it on its own vhost-user-blk socket, or as an export of the node's NBD
/// server named after the export id. With a <see cref="BlockCache"/>, writable disks are cached while the
/// lock is held.
/// </summary>
/// <remarks>
/// Lock seam: locks belong to the volume client. This class calls <see cref="BlockExportsOptions.AcquireLock"/>
/// and <see cref="BlockExportsOptions.ReleaseLock"/> at the right moments and keeps the cache coherent with
/// them (enabled only between a successful acquire and a release); the node supplies the hooks.
/// <code>
///   ExportAsync(TakeLock)   open → acquire → cache on → serve
///   ExportAsync(!TakeLock)  open → serve (migration destination; QEMU is paused) , cache off
///   AcquireLockAsync        acquire → cache on (fresh)              (destination at switch-over)
///   FlushAndReleaseAsync    flush → cache off (dropped) → release   (source at switch-over)
///   RemoveAsync             stop serving → flush + release if this export still holds the lock → close volume
/// </code>
/// </remarks>
public sealed class BlockExports : IVmDisks, IAsyncDisposable
{
    private readonly IBlockVolumeProvider _provider;
    private readonly BlockExportsOptions _options;
    private readonly BlockCache? _cache;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Export> _exports = new(StringComparer.Ordinal);
    private readonly NbdServer? _nbd;
    private readonly ExportTable _nbdTable = new();
    private readonly SemaphoreSlim _gate = new(1, 1);

    private sealed class Export
    {
        public required DiskExportRequest Request { get; init; }
        public required IBlockVolume Opened { get; init; }
        public required IBlockVolume Served { get; init; }
        public CachedBlockVolume? Cached { get; init; }
        public VhostUserBlkServer? VhostUser { get; init; }
        public bool Locked { get; set; }
    }

    /// <summary>NBD exports by export id, over the already-opened volumes.</summary>
    private sealed class ExportTable : IBlockVolumeProvider
    {
        public readonly ConcurrentDictionary<string, IBlockVolume> Volumes = new(StringComparer.Ordinal);

        public ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken) =>
            new(Volumes.TryGetValue(volumeName, out var v)
                ? OpenVolumeResult.Ok(new BorrowedVolume(v))
                : OpenVolumeResult.Fail($"no disk export named '{volumeName}' on this node"));

        public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
            new(Volumes.Keys.Order(StringComparer.Ordinal).ToList());
    }

    public BlockExports(IBlockVolumeProvider provider, BlockExportsOptions options, BlockCache? cache = null, ILogger? logger = null)
    {
        _provider = provider;
        _options = options;
        _cache = cache is { Options.Enabled: true } ? cache : null;
        _logger = logger ?? NullLogger.Instance;
        Directory.CreateDirectory(options.SocketDirectory);
        if (options.NbdSocketPath is { } nbdPath)
        {
            _nbd = new NbdServer(_nbdTable, new NbdServerOptions { UnixSocketPath = nbdPath }, _logger);
            _nbd.Start();
        }
    }

    /// <summary>Export ids currently served.</summary>
    public IReadOnlyCollection<string> ExportIds => _exports.Keys.ToList();

    /// <summary>The cache decorator of an export, when the cache is on (for metrics and tests).</summary>
    public CachedBlockVolume? CacheOf(string exportId) => _exports.TryGetValue(exportId, out var e) ? e.Cached : null;

    public async ValueTask<DiskExportResult> ExportAsync(DiskExportRequest request, CancellationToken cancellationToken)
    {
        if (!DirectoryVolumeProvider.IsValidName(request.ExportId))
        {
            return new(null, null, $"export id '{request.ExportId}' must be letters, digits, '-', '_' or '.'");
        }
        if (request.Transport is not ("vhost-user" or "nbd"))
        {
            return new(null, null, $"transport '{request.Transport}' is not 'vhost-user' or 'nbd'");
        }
        if (request.Transport == "nbd" && _nbd is null)
        {
            return new(null, null, "this node has no NBD server for disks (set the NBD socket path)");
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_exports.ContainsKey(request.ExportId))
            {
                return new(null, null, $"export '{request.ExportId}' already exists on this node");
            }
            var opened = await _provider.OpenAsync(request.VolumeName,
                new VolumeOpenOptions(request.TakeLock, request.ReadOnly, request.Holder, request.Cache), cancellationToken).ConfigureAwait(false);
            if (opened.Volume is not { } volume)
            {
                return new(null, null, $"cannot open volume '{request.VolumeName}': {opened.Error}");
            }
            bool locked = false;
            if (request.TakeLock)
            {
                var error = await AcquireAsync(volume, cancellationToken).ConfigureAwait(false);
                if (error is not null)
                {
                    await volume.DisposeAsync().ConfigureAwait(false);
                    return new(null, null, $"cannot lock volume '{request.VolumeName}': {error}");
                }
                locked = true;
            }
            CachedBlockVolume? cached = null;
            IBlockVolume served = volume;
            if (_cache is not null && !request.ReadOnly)
            {
                cached = new CachedBlockVolume(volume, _cache, ownsInner: false);
                if (!locked)
                {
                    cached.Drop();
                }
                served = cached;
            }
            VhostUserBlkServer? vhost = null;
            string socket;
            string? nbdName = null;
            if (request.Transport == "vhost-user")
            {
                socket = Path.Combine(_options.SocketDirectory, request.ExportId + ".sock");
                vhost = new VhostUserBlkServer(socket, served,
                    new VhostUserBlkOptions { NumQueues = _options.QueuesPerDisk, ReadOnly = request.ReadOnly, SerialId = request.VolumeName }, _logger);
                vhost.Start();
            }
            else
            {
                socket = _nbd!.UnixSocketPath!;
                nbdName = request.ExportId;
                _nbdTable.Volumes[request.ExportId] = served;
            }
            _exports[request.ExportId] = new Export
            {
                Request = request, Opened = volume, Served = served, Cached = cached, VhostUser = vhost, Locked = locked,
            };
            return new(socket, nbdName, null);
        }
        finally
        {
            _gate.Release();
        }
    }

    private ValueTask<string?> AcquireAsync(IBlockVolume volume, CancellationToken ct) =>
        _options.AcquireLock is { } hook ? hook(volume, ct) : ValueTask.FromResult<string?>(null);

    public async ValueTask<string?> AcquireLockAsync(string exportId, CancellationToken cancellationToken)
    {
        if (!_exports.TryGetValue(exportId, out var export))
        {
            return $"no export '{exportId}' on this node";
        }
        if (export.Locked)
        {
            return null;
        }
        var error = await AcquireAsync(export.Opened, cancellationToken).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }
        export.Locked = true;
        export.Cached?.Enable();
        return null;
    }

    public async ValueTask<string?> FlushAndReleaseAsync(string exportId, CancellationToken cancellationToken)
    {
        if (!_exports.TryGetValue(exportId, out var export))
        {
            return $"no export '{exportId}' on this node";
        }
        var status = await export.Served.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (status != BlockIoStatus.Ok)
        {
            return $"flush of '{export.Request.VolumeName}' failed: {status}";
        }
        export.Cached?.Drop();
        if (export.Locked && _options.ReleaseLock is { } release)
        {
            var error = await release(export.Opened, cancellationToken).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }
        }
        export.Locked = false;
        return null;
    }

    public async ValueTask RemoveAsync(string exportId, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_exports.TryRemove(exportId, out var export))
            {
                return;
            }
            if (export.VhostUser is { } vhost)
            {
                await vhost.DisposeAsync().ConfigureAwait(false);
            }
            _nbdTable.Volumes.TryRemove(exportId, out _);
            export.Cached?.Drop();
            // A stopped VM gives its disks back: the lock goes with the export that took it. An export whose
            // lock was already handed over (FlushAndReleaseAsync at a migration switch-over) releases nothing,
            // since the lock now belongs to the destination.
            if (export.Locked && _options.ReleaseLock is { } release)
            {
                export.Locked = false;
                try
                {
                    var status = await export.Opened.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                    var error = status == BlockIoStatus.Ok
                        ? await release(export.Opened, CancellationToken.None).ConfigureAwait(false)
                        : $"flush failed ({status}); the lock stays held so no other node writes over unflushed data";
                    if (error is not null) BlockExportsLog.ReleaseFailed(_logger, exportId, export.Request.VolumeName, error);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    BlockExportsLog.ReleaseFailed(_logger, exportId, export.Request.VolumeName, e.Message);
                }
            }
            await export.Opened.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _exports.Keys.ToList())
        {
            await RemoveAsync(id, CancellationToken.None).ConfigureAwait(false);
        }
        if (_nbd is not null)
        {
            await _nbd.DisposeAsync().ConfigureAwait(false);
        }
    }
}
