using Fabric.BlockBackend.Cache;
using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.Proto;
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
/// </remarks>
public sealed class NodeVolumeProvider : IBlockVolumeProvider
{
    private readonly Func<ClusterClient> _client;
    private readonly WriteBackOptions? _writeBack;
    private readonly ILogger? _logger;
    private readonly Dictionary<(string Name, bool ReadOnly), Shared> _open = new();
    private readonly Dictionary<(string Name, bool ReadOnly), Task<BlockIoStatus>> _closing = new();
    private readonly object _gate = new();

    internal sealed class Shared(VolumeClient volume, IBlockVolume io, (string, bool) key)
    {
        public VolumeClient Volume { get; } = volume;

        /// <summary>Where handles send I/O: the volume client, or the write cache in front of it.</summary>
        public IBlockVolume Io { get; } = io;

        public (string, bool) Key { get; } = key;
        public int Handles;
    }

    /// <param name="client">The node's storage client (created on first use).</param>
    /// <param name="writeBack">The node's write cache per writable volume; null: writes go straight to the cluster.</param>
    public NodeVolumeProvider(Func<ClusterClient> client, WriteBackOptions? writeBack = null, ILogger? logger = null)
    {
        _client = client;
        _writeBack = writeBack;
        _logger = logger;
    }

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
            return _open.Values.Where(s => s.Io is WriteBackVolume).Select(s => (s.Volume.Name, (WriteBackVolume)s.Io)).ToList();
        }
    }

    public async ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken)
    {
        var key = (volumeName, options.ReadOnly);
        while (true)
        {
            Task<BlockIoStatus>? closing = null;
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
                        var volume = VolumeClient.Open(_client(), volumeName, out var error, readOnly: options.ReadOnly);
                        if (volume is null) return OpenVolumeResult.Fail(error ?? $"volume '{volumeName}' cannot be opened");
                        // Writes carry the lock epoch of the client (OSD-side fencing): a lock this node took before the
                        // volume was opened (an NBD export) is adopted now; one taken after, through AdoptLock.
                        if (!options.ReadOnly) volume.AdoptLock();
                        IBlockVolume io = volume;
                        if (_writeBack is not null && !volume.ReadOnly)
                        {
                            io = new WriteBackVolume(volume, _writeBack with { SplitBytes = volume.ObjectSize }, ownsInner: true, _logger);
                        }
                        shared = new Shared(volume, io, key);
                        _open[key] = shared;
                    }
                    shared.Handles++;
                    return OpenVolumeResult.Ok(new NodeVolume(this, shared, options.Holder));
                }
            }
            // The previous client of this volume is still writing its cache back: open after it is done.
            await closing.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        ClusterMap map = _client().Map;
        return ValueTask.FromResult<IReadOnlyList<string>>(map.Volumes.Select(v => v.Name).Order(StringComparer.Ordinal).ToList());
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
