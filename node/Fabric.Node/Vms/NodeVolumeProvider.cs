using Fabric.BlockBackend.Cache;
using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Vms;

/// <summary>
/// The node's volumes for the block backend: replicated volumes of the cluster map opened through the node's
/// storage client (<see cref="VolumeClient"/>, with the node's identity). Opens of one volume share one
/// client (per read-only/writable mode), counted: every user (a VM disk, an NBD export, a tool's NBD
/// connection) gets its own <see cref="NodeVolume"/> handle, and the shared client lives while a handle does.
/// </summary>
/// <remarks>
/// With <c>write_cache</c> in the node's config, a writable volume's I/O goes through one
/// <see cref="WriteBackVolume"/> shared by all its handles on this node (so every user here sees every
/// acknowledged write). When the last handle goes, the cache is written back before the volume closes, and an
/// open of the same volume meanwhile waits for that, so a new client never writes under the old one's data.
/// Whoever releases the volume's lock calls <see cref="FlushAsync"/> first.
/// <para>A handle opened write-through (<see cref="VolumeOpenOptions.Cache"/> "writethrough" or "none") still goes
/// through that shared cache, so its reads see what the other handles here have in it, but every write it makes is
/// sent with FUA: the cache writes back any cached blocks it overlaps and completes it only once it is durable on
/// every replica. "writeback" on a node without a write cache runs write-through, with one warning per VM disk.</para>
/// </remarks>
public sealed class NodeVolumeProvider : IBlockVolumeProvider
{
    private readonly VolumeOpener _openVolume;
    private readonly Func<IEnumerable<string>> _volumeNames;
    private readonly WriteBackOptions? _writeBack;
    private readonly ILogger? _logger;
    private readonly string _nodeName;
    private readonly HashSet<(string Holder, string Volume)> _warnedNoWriteCache = new();
    private readonly Dictionary<(string Name, bool ReadOnly), Shared> _open = new();
    private readonly Dictionary<(string Name, bool ReadOnly), Task<BlockIoStatus>> _closing = new();
    private readonly object _gate = new();

    /// <summary>A volume as the provider opens it: its I/O, its object size (no write-back crosses one), and how
    /// its writes take the epoch of the lock this node holds (OSD-side fencing).</summary>
    internal sealed record OpenedVolume(IBlockVolume Io, long ObjectSize, Action AdoptLock);

    /// <summary>Opens a volume (the node: a <see cref="VolumeClient"/>; tests: memory volumes); null with the reason when it cannot.</summary>
    internal delegate OpenedVolume? VolumeOpener(string volumeName, bool readOnly, out string? error);

    internal sealed class Shared(OpenedVolume volume, IBlockVolume io, (string, bool) key)
    {
        public OpenedVolume Volume { get; } = volume;

        /// <summary>Where handles send I/O: the volume client, or the write cache in front of it.</summary>
        public IBlockVolume Io { get; } = io;

        public (string, bool) Key { get; } = key;
        public int Handles;
    }

    /// <param name="client">The node's storage client (created on first use).</param>
    /// <param name="writeBack">The node's write cache per writable volume; null: writes go straight to the cluster.</param>
    /// <param name="nodeName">The node's name in the cluster file, for the fixes its warnings suggest.</param>
    public NodeVolumeProvider(Func<ClusterClient> client, WriteBackOptions? writeBack = null, ILogger? logger = null, string nodeName = "")
        : this(OpenFromCluster(client), () => client().Map.Volumes.Select(v => v.Name), writeBack, logger, nodeName)
    {
    }

    /// <summary>The seam under the public constructor: where volumes come from and which exist.</summary>
    internal NodeVolumeProvider(VolumeOpener openVolume, Func<IEnumerable<string>> volumeNames, WriteBackOptions? writeBack, ILogger? logger, string nodeName = "")
    {
        _openVolume = openVolume;
        _volumeNames = volumeNames;
        _writeBack = writeBack;
        _logger = logger;
        _nodeName = nodeName;
    }

    private static VolumeOpener OpenFromCluster(Func<ClusterClient> client) =>
        (string volumeName, bool readOnly, out string? error) =>
        {
            var volume = VolumeClient.Open(client(), volumeName, out error, readOnly: readOnly);
            return volume is null ? null : new OpenedVolume(volume, volume.ObjectSize, () => volume.AdoptLock());
        };

    /// <summary>Volumes with at least one open handle (for status).</summary>
    public int OpenCount
    {
        get { lock (_gate) return _open.Count; }
    }

    /// <summary>The write cache of a volume open for writing here (null: none), for status and tests.</summary>
    public WriteBackVolume? WriteCacheOf(string volumeName)
    {
        lock (_gate) return _open.TryGetValue((volumeName, false), out var shared) ? shared.Io as WriteBackVolume : null;
    }

    /// <summary>The write caches of the volumes open for writing here (for metrics).</summary>
    public IReadOnlyList<(string Volume, WriteBackVolume Cache)> WriteCaches()
    {
        lock (_gate)
        {
            return _open.Values.Where(s => s.Io is WriteBackVolume).Select(s => (s.Key.Item1, (WriteBackVolume)s.Io)).ToList();
        }
    }

    public async ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken)
    {
        var key = (volumeName, options.ReadOnly);
        while (true)
        {
            Task<BlockIoStatus>? closing = null;
            NodeVolume? handle = null;
            var cached = false;
            lock (_gate)
            {
                if (_closing.TryGetValue(key, out var pending))
                {
                    if (pending.IsCompleted) _closing.Remove(key);
                    else closing = pending;
                }
                if (closing is null)
                {
                    if (!_open.TryGetValue(key, out var shared))
                    {
                        var volume = _openVolume(volumeName, options.ReadOnly, out var error);
                        if (volume is null) return OpenVolumeResult.Fail(error ?? $"volume '{volumeName}' cannot be opened");
                        // Writes carry the lock epoch of the client (OSD-side fencing): a lock this node took before the
                        // volume was opened (an NBD export) is adopted now; one taken after, through AdoptLock.
                        if (!options.ReadOnly) volume.AdoptLock();
                        IBlockVolume io = volume.Io;
                        if (_writeBack is not null && !volume.Io.ReadOnly)
                        {
                            io = new WriteBackVolume(volume.Io, _writeBack with { SplitBytes = volume.ObjectSize }, ownsInner: true, _logger);
                        }
                        shared = new Shared(volume, io, key);
                        _open[key] = shared;
                    }
                    shared.Handles++;
                    // Only the shared write cache can hold a write back; without it every write is durable when it completes.
                    cached = shared.Io is WriteBackVolume;
                    handle = new NodeVolume(this, shared, options.Holder, writeThrough: cached && options.Cache.WritesThrough());
                }
            }
            if (handle is not null)
            {
                if (options.Cache == DiskCacheMode.WriteBack && !options.ReadOnly && !cached)
                {
                    WarnNoWriteCache(options.Holder, volumeName);
                }
                return OpenVolumeResult.Ok(handle);
            }
            // The previous client of this volume is still writing its cache back: open after it is done.
            await closing!.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<string>>(_volumeNames().Order(StringComparer.Ordinal).ToList());

    /// <summary>
    /// A disk asked for "writeback" on a node without <c>write_cache</c>: it runs write-through (slower than the
    /// operator expects, never less durable). Said once per VM and volume, not at every start or migration.
    /// </summary>
    private void WarnNoWriteCache(string holder, string volumeName)
    {
        if (_logger is null) return;
        lock (_warnedNoWriteCache)
        {
            if (!_warnedNoWriteCache.Add((holder, volumeName))) return;
        }
        var node = _nodeName.Length > 0 ? $"node {_nodeName}" : "this node";
        var table = _nodeName.Length > 0 ? $"the [[node]] table of {_nodeName}" : "this node's [[node]] table";
        _logger.LogWarning(
            "VM {Vm} asks for cache = \"writeback\" on its disk {Volume}, but {Node} has no write cache, so the disk runs write-through " +
            "(every write waits until it is durable on every replica). To cache its writes, set write_cache (e.g. write_cache = \"32MiB\") in {Table} " +
            "and restart the node; or set cache = \"writethrough\" on the disk to say that is intended",
            holder.Length > 0 ? holder : "(unnamed)", volumeName, node, table);
    }

    /// <summary>
    /// Makes every write acknowledged here for the volume durable in the cluster (the write cache's, and those
    /// of a client closing); Ok when nothing is cached. Call before the volume's lock is released.
    /// </summary>
    public async ValueTask<BlockIoStatus> FlushAsync(string volumeName, CancellationToken cancellationToken)
    {
        IBlockVolume? io;
        Task<BlockIoStatus>? closing;
        lock (_gate)
        {
            io = _open.TryGetValue((volumeName, false), out var shared) ? shared.Io : null;
            closing = _closing.GetValueOrDefault((volumeName, false));
        }
        var status = closing is null ? BlockIoStatus.Ok : await closing.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (status == BlockIoStatus.Ok && io is not null) status = await io.FlushAsync(cancellationToken).ConfigureAwait(false);
        return status;
    }

    /// <summary>
    /// The node now holds the volume's lock in the map (and its map has that epoch): the open writable client
    /// takes the lock's epoch for its writes. No-op when the volume is not open for writing here.
    /// </summary>
    public void AdoptLock(string volumeName)
    {
        lock (_gate)
        {
            if (_open.TryGetValue((volumeName, false), out var shared)) shared.Volume.AdoptLock();
        }
    }

    internal void Return(Shared shared)
    {
        lock (_gate)
        {
            if (--shared.Handles != 0 || !_open.TryGetValue(shared.Key, out var current) || !ReferenceEquals(current, shared)) return;
            _open.Remove(shared.Key);
            _closing[shared.Key] = CloseAsync(shared.Io);
        }
    }

    private static async Task<BlockIoStatus> CloseAsync(IBlockVolume io)
    {
        var status = BlockIoStatus.Ok;
        try
        {
            status = await io.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await io.DisposeAsync().ConfigureAwait(false);
        }
        return status;
    }
}
