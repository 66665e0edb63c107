using System.Net.Sockets;
using Fabric.BlockBackend.Cache;
using Fabric.Core.Io;
using Fabric.Core.Map;
using Fabric.BlockBackend.Exports;
using Fabric.BlockBackend.Nbd;
using Fabric.Node.Metrics;
using Fabric.Node.Vms;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Server;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Parts;

/// <summary>
/// The node's virtio-blk backend: VM disks (vhost-user-blk sockets, or NBD, in RUN/disks) served from the
/// cluster's replicated volumes through the node's storage client, with the volume's exclusive lock taken in
/// the map for the node while a VM (or a writable NBD export) uses it; and the node's NBD server for tools
/// (`fabric volume export-nbd`: RUN/nbd.sock and DATA:10809). With <c>block_cache</c> set in the node's
/// config, a FASTER block cache serves the volumes this node holds the lock of.
/// </summary>
/// <remarks>
/// The lock seam is <see cref="IVolumeLocks"/> (today: the map's VolumeLockChange). Exports live as long as
/// the node process: they are not restored after a restart (the VMs' disks are, when the VMs restart).
/// </remarks>
public sealed class BlockPart : INodePart
{
    /// <summary>The NBD port registered with IANA; a node whose data address has it taken uses a free one.</summary>
    public const int DefaultNbdPort = 10809;
    public const string NbdExportHolder = "nbd export";

    private NodeContext? _node;
    private ILogger? _log;
    private NodeVolumeProvider? _volumes;
    private IVolumeLocks? _locks;
    private BlockCache? _cache;
    private BlockMetrics? _metrics;
    private BlockExports? _exports;
    private NbdExportTable? _table;
    private NbdServer? _nbd;
    private readonly SemaphoreSlim _exportGate = new(1, 1);
    private string _state = "starting";
    private string _detail = "";

    public string Name => "block";

    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => BlockReflection.Descriptor.Services.Single(s => s.Name == "BlockAdmin");

    /// <summary>The VM disks of this node (after start).</summary>
    public BlockExports? Exports => _exports;

    public NbdServer? Nbd => _nbd;

    public void BindServices(RpcServerBuilder server)
    {
        server.AddService(Descriptor, binder => binder
            .Unary<ExportNbdRequest, NbdExportInfo>("ExportNbd", (request, context) => ExportNbdAsync(request, context.CancellationToken))
            .Unary<UnexportNbdRequest, UnexportNbdReply>("UnexportNbd", (request, context) => UnexportNbdAsync(request, context.CancellationToken))
            .Unary<ListExportsRequest, ListExportsReply>("ListExports", (_, _) => Task.FromResult(ListExports()))
            .Unary<FlushVolumeRequest, FlushVolumeReply>("FlushVolume", (request, context) => FlushVolumeAsync(request, context.CancellationToken)));
    }

    public Task StartAsync(NodeContext node, CancellationToken cancellationToken)
    {
        _node = node;
        _log = node.LoggerFactory.CreateLogger("Fabric.BlockBackend");
        try
        {
            WriteBackOptions? writeBack = node.Node.WriteCache.Bytes > 0
                ? new WriteBackOptions { MaxDirtyBytes = node.Node.WriteCache.Bytes, MaxDirtyAge = WriteCacheAge() }
                : null;
            _volumes = new NodeVolumeProvider(() => node.StorageClient, writeBack, _log, node.Node.Name);
            var volumes = _volumes;
            _locks = new MapVolumeLocks(node.Monitors, node.Maps, () => (node.NodeId, node.Membership.Incarnation), volumes.AdoptLock, _log);
            if (node.Node.BlockCache.Bytes > 0)
            {
                _cache = new BlockCache(new BlockCacheOptions
                {
                    Enabled = true,
                    MemoryBytes = node.Node.BlockCache.Bytes,
                    DiskBytes = 2 * node.Node.BlockCache.Bytes,
                    Directory = Path.Combine(node.DataDir, "block-cache"),
                });
            }
            var disks = Path.Combine(node.RunDir, "disks");
            _exports = new BlockExports(_volumes, new BlockExportsOptions
            {
                SocketDirectory = disks,
                NbdSocketPath = Path.Combine(disks, "nbd.sock"),
                AcquireLock = (volume, ct) => _locks.AcquireAsync(volume.Name, HolderOf(volume), ct),
                ReleaseLock = (volume, ct) => FlushAndReleaseLockAsync(volume.Name, HolderOf(volume), ct),
            }, _cache, _log);
            _table = new NbdExportTable(_volumes, _cache, holdVolume: writeBack is not null);
            _metrics = new BlockMetrics(_volumes, _cache);
            _nbd = StartNbd(node, _table, _log);
            node.VmDisks = _exports;
            node.VolumeLocks = _locks as MapVolumeLocks;
            _state = "running";
            _detail = $"nbd {string.Join(", ", new[] { _nbd.UnixSocketPath, _nbd.TcpPort is { } p ? $"{node.Node.Data}:{p}" : null }.Where(s => s is not null))}" +
                (_cache is null ? ", no cache" : $", cache {node.Node.BlockCache}") +
                (writeBack is null ? ", write-through" : $", write cache {node.Node.WriteCache} per volume");
        }
        catch (Exception e)
        {
            _state = "failed";
            _detail = e.Message;
            throw;
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// How long acknowledged writes may stay only in the write cache (rbd_cache_max_dirty_age): 1 s, or
    /// FABRIC_WRITE_CACHE_AGE_MS (tests hold data in the cache to show who writes it back).
    /// </summary>
    private static TimeSpan WriteCacheAge()
    {
        var text = Environment.GetEnvironmentVariable("FABRIC_WRITE_CACHE_AGE_MS");
        if (string.IsNullOrEmpty(text)) return TimeSpan.FromSeconds(1);
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms) || ms < 1)
        {
            throw new InvalidOperationException($"FABRIC_WRITE_CACHE_AGE_MS must be a whole number of milliseconds of at least 1, found '{text}'; unset it for 1 s");
        }
        return TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>
    /// The lock goes only after everything this node acknowledged for the volume is durable (its write cache
    /// written back): the next holder must never read under, or write beneath, data still in this node's memory.
    /// </summary>
    private async ValueTask<string?> FlushAndReleaseLockAsync(string volume, string holder, CancellationToken cancellationToken)
    {
        var status = await _volumes!.FlushAsync(volume, cancellationToken).ConfigureAwait(false);
        if (status != BlockIoStatus.Ok)
        {
            return $"writing back the cached writes of {volume} failed ({status}); the lock stays held so no other node writes over data still cached here";
        }
        return await _locks!.ReleaseAsync(volume, holder, cancellationToken).ConfigureAwait(false);
    }

    private static string HolderOf(Fabric.Core.Io.IBlockVolume volume) => volume is NodeVolume v && v.Holder.Length > 0 ? v.Holder : "vm";

    private static NbdServer StartNbd(NodeContext node, NbdExportTable table, ILogger log)
    {
        var unix = Path.Combine(node.RunDir, "nbd.sock");
        var host = node.Node.Data.ToString();
        var server = new NbdServer(table, new NbdServerOptions { UnixSocketPath = unix, TcpHost = host, TcpPort = DefaultNbdPort }, log);
        try
        {
            server.Start();
            return server;
        }
        catch (SocketException e)
        {
            log.LogWarning("NBD port {Port} on {Host} is taken ({Error}); using a free port", DefaultNbdPort, host, e.Message);
            _ = server.DisposeAsync().AsTask();
        }
        var fallback = new NbdServer(table, new NbdServerOptions { UnixSocketPath = unix, TcpHost = host, TcpPort = 0 }, log);
        fallback.Start();
        return fallback;
    }

    private (NodeContext Node, NbdExportTable Table, NbdServer Nbd, IVolumeLocks Locks) Started() =>
        _node is not null && _table is not null && _nbd is not null && _locks is not null
            ? (_node, _table, _nbd, _locks)
            : throw new RpcException(StatusCode.Unavailable, $"the block part of this node is {_state}{(_detail.Length > 0 ? ": " + _detail : "")}");

    private NbdExportInfo Info(NbdExportTable.Entry entry, bool existed)
    {
        var (node, _, nbd, _) = Started();
        var info = new NbdExportInfo
        {
            Volume = entry.Volume,
            Node = node.Node.Name,
            SocketPath = nbd.UnixSocketPath ?? "",
            Host = nbd.TcpHost ?? "",
            Port = (uint)(nbd.TcpPort ?? 0),
            ReadOnly = entry.ReadOnly,
            Locked = entry.Locked,
            Existed = existed,
        };
        foreach (var uri in nbd.GetExportUris(entry.Volume))
        {
            if (uri.StartsWith("nbd+unix:", StringComparison.Ordinal)) info.UnixUri = uri;
            else info.TcpUri = uri;
        }
        return info;
    }

    private async Task<NbdExportInfo> ExportNbdAsync(ExportNbdRequest request, CancellationToken cancellationToken)
    {
        var (node, table, _, locks) = Started();
        if (request.MinEpoch > (node.Maps.Current?.Epoch ?? 0))
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(TimeSpan.FromSeconds(5));
            try
            {
                await node.Maps.WaitForEpochAsync(request.MinEpoch, wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new RpcException(StatusCode.Unavailable, $"node {node.Node.Name} has not seen map epoch {request.MinEpoch} yet; retry");
            }
        }
        // VOLUME@SNAP serves a snapshot (read-only).
        var at = request.Volume.IndexOf('@');
        var volumeName = at < 0 ? request.Volume : request.Volume[..at];
        if (node.Map.FindVolume(volumeName) is not { } volume)
        {
            throw new RpcException(StatusCode.NotFound, $"volume {volumeName} does not exist (fabric volume list shows the volumes)");
        }
        if (at >= 0 && !volume.Snapshots.Any(s => s.Name == request.Volume[(at + 1)..]))
        {
            throw new RpcException(StatusCode.NotFound, $"snapshot {request.Volume} does not exist (fabric volume snap ls {volumeName})");
        }
        if (at >= 0 && !request.ReadOnly)
        {
            throw new RpcException(StatusCode.InvalidArgument, $"{request.Volume} is a snapshot: export it --read-only");
        }
        await _exportGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (table.Find(request.Volume) is { } existing)
            {
                if (existing.ReadOnly != request.ReadOnly)
                {
                    throw new RpcException(StatusCode.FailedPrecondition,
                        $"volume {request.Volume} is exported {(existing.ReadOnly ? "read-only" : "writable")} on node {node.Node.Name} already; unexport it first (fabric volume unexport-nbd {request.Volume})");
                }
                return Info(existing, existed: true);
            }
            var locked = false;
            if (!request.ReadOnly)
            {
                var error = await locks.AcquireAsync(request.Volume, NbdExportHolder, cancellationToken).ConfigureAwait(false);
                if (error is not null)
                {
                    throw new RpcException(StatusCode.FailedPrecondition, $"{error} (or export it --read-only)");
                }
                locked = true;
            }
            var (entry, openError) = await table.PrepareAsync(request.Volume, request.ReadOnly, locked, cancellationToken).ConfigureAwait(false);
            if (entry is null)
            {
                if (locked) await locks.ReleaseAsync(request.Volume, NbdExportHolder, CancellationToken.None).ConfigureAwait(false);
                throw new RpcException(StatusCode.FailedPrecondition, $"volume {request.Volume} cannot be opened: {openError}");
            }
            table.TryAdd(entry);
            _log!.LogInformation("Volume {Volume} exported over NBD ({Mode})", request.Volume, request.ReadOnly ? "read-only" : "writable, locked");
            return Info(entry, existed: false);
        }
        finally
        {
            _exportGate.Release();
        }
    }

    private async Task<UnexportNbdReply> UnexportNbdAsync(UnexportNbdRequest request, CancellationToken cancellationToken)
    {
        var (_, table, _, locks) = Started();
        await _exportGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var entry = table.Remove(request.Volume);
            if (entry is null) return new UnexportNbdReply { Removed = false };
            await entry.CloseAsync().ConfigureAwait(false);
            if (entry.Locked)
            {
                var error = await FlushAndReleaseLockAsync(request.Volume, NbdExportHolder, cancellationToken).ConfigureAwait(false);
                if (error is not null) throw new RpcException(StatusCode.FailedPrecondition, $"volume {request.Volume} is unexported but its lock was not released: {error}");
            }
            _log!.LogInformation("Volume {Volume} unexported", request.Volume);
            return new UnexportNbdReply { Removed = true };
        }
        finally
        {
            _exportGate.Release();
        }
    }

    private async Task<FlushVolumeReply> FlushVolumeAsync(FlushVolumeRequest request, CancellationToken cancellationToken)
    {
        Started();
        var cached = _volumes!.WriteCacheOf(request.Volume) is not null;
        var status = await _volumes.FlushAsync(request.Volume, cancellationToken).ConfigureAwait(false);
        if (status != BlockIoStatus.Ok)
        {
            throw new RpcException(StatusCode.FailedPrecondition, $"writing back the cached writes of {request.Volume} on node {_node!.Node.Name} failed ({status}); see that node's log");
        }
        return new FlushVolumeReply { Cached = cached };
    }

    private ListExportsReply ListExports()
    {
        var (_, table, _, _) = Started();
        var reply = new ListExportsReply();
        foreach (var entry in table.List()) reply.Nbd.Add(Info(entry, existed: true));
        foreach (var id in _exports!.ExportIds.Order(StringComparer.Ordinal))
        {
            reply.Disks.Add(new VmDiskExportInfo { ExportId = id, Cached = _exports.CacheOf(id) is { Enabled: true } });
        }
        if (_cache is not null)
        {
            reply.CacheMemoryBytes = (ulong)_cache.Options.MemoryBytes;
            reply.CacheHits = (ulong)_cache.Hits;
            reply.CacheMisses = (ulong)_cache.Misses;
        }
        return reply;
    }

    public SubsystemStatus Status => new() { Name = Name, State = _state, Detail = _detail };

    public async ValueTask DisposeAsync()
    {
        if (_node is not null && ReferenceEquals(_node.VmDisks, _exports)) _node.VmDisks = null;
        if (_nbd is not null) await _nbd.DisposeAsync().ConfigureAwait(false);
        if (_table is not null && _locks is not null)
        {
            foreach (var entry in _table.List())
            {
                await entry.CloseAsync().ConfigureAwait(false);
                if (entry.Locked) await FlushAndReleaseLockAsync(entry.Volume, NbdExportHolder, CancellationToken.None).ConfigureAwait(false);
            }
        }
        if (_exports is not null) await _exports.DisposeAsync().ConfigureAwait(false);
        _cache?.Dispose();
        _metrics?.Dispose();
    }
}
