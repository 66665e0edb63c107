using Fabric.BlockBackend.Cache;
using Fabric.Core.Io;

namespace Fabric.Node.Vms;

/// <summary>
/// The volumes a node serves to tools over NBD (`fabric volume export-nbd`): only these names open; each
/// with its own read-only flag. Everything else the NBD server is asked for is refused with the fix.
/// Unexporting stops new connections; connections already open keep their volume until they close.
/// With the node's block cache, a writable export (it holds the volume's lock) is served through one cached
/// volume that lives as long as the export (and so as the lock): every connection shares it, and it starts from
/// an empty cache generation, so nothing cached before the lock was last held is served.
/// </summary>
/// <remarks>With <paramref name="holdVolume"/> (the node has a write cache), a writable export keeps a handle on its
/// volume for as long as it exists, so the write cache outlives the connections (tools connect, write and go).</remarks>
public sealed class NbdExportTable(IBlockVolumeProvider volumes, BlockCache? cache = null, bool holdVolume = false) : IBlockVolumeProvider
{
    private readonly Dictionary<string, Entry> _exports = new(StringComparer.Ordinal);

    /// <param name="Cached">The export's cached volume (writable exports on a node with a cache), owned by the entry.</param>
    /// <param name="Held">A handle the export keeps open (writable exports on a node with a write cache), owned by the entry.</param>
    public sealed record Entry(string Volume, bool ReadOnly, bool Locked, IBlockVolume? Cached = null, IBlockVolume? Held = null)
    {
        /// <summary>Gives back the volume the export kept open (a write cache behind it is written back as its client
        /// closes; whoever releases the lock flushes the volume first, NodeVolumeProvider.FlushAsync).</summary>
        public async ValueTask CloseAsync()
        {
            if (Cached is not null) await Cached.DisposeAsync().ConfigureAwait(false);
            if (Held is not null) await Held.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The entry for a new export: with the cache, its cached volume is opened now (null + error when the volume cannot be opened).</summary>
    public async ValueTask<(Entry? Entry, string? Error)> PrepareAsync(string volume, bool readOnly, bool locked, CancellationToken cancellationToken)
    {
        if ((cache is null && !holdVolume) || readOnly || !locked) return (new Entry(volume, readOnly, locked), null);
        var opened = await volumes.OpenAsync(volume, new VolumeOpenOptions(false, false, "nbd export"), cancellationToken).ConfigureAwait(false);
        if (opened.Volume is null) return (null, opened.Error);
        if (cache is null) return (new Entry(volume, readOnly, locked, Held: opened.Volume), null);
        return (new Entry(volume, readOnly, locked, new CachedBlockVolume(opened.Volume, cache, ownsInner: true)), null);
    }

    public Entry? Find(string volume)
    {
        lock (_exports) return _exports.GetValueOrDefault(volume);
    }

    public IReadOnlyList<Entry> List()
    {
        lock (_exports) return _exports.Values.OrderBy(e => e.Volume, StringComparer.Ordinal).ToList();
    }

    /// <returns>false when the volume is exported already.</returns>
    public bool TryAdd(Entry entry)
    {
        lock (_exports) return _exports.TryAdd(entry.Volume, entry);
    }

    public Entry? Remove(string volume)
    {
        lock (_exports) return _exports.Remove(volume, out var entry) ? entry : null;
    }

    public ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken)
    {
        var entry = Find(volumeName);
        if (entry is null)
        {
            return ValueTask.FromResult(OpenVolumeResult.Fail($"volume '{volumeName}' is not exported by this node (fabric volume export-nbd {volumeName})"));
        }
        return OpenAsync(entry, options, cancellationToken);
    }

    private ValueTask<OpenVolumeResult> OpenAsync(Entry entry, VolumeOpenOptions options, CancellationToken cancellationToken)
    {
        if (entry.Cached is { } cached) return ValueTask.FromResult(OpenVolumeResult.Ok(new SharedVolumeView(cached)));
        return volumes.OpenAsync(entry.Volume, new VolumeOpenOptions(false, entry.ReadOnly || options.ReadOnly, "nbd"), cancellationToken);
    }

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<string>>(List().Select(e => e.Volume).ToList());
}
