using Fabric.BlockBackend.Cache;
using Fabric.Core.Io;

namespace Fabric.Node.Vms;

/// <summary>
/// The volumes a node serves to tools over NBD (`fabric volume export-nbd`): only these names open; each
/// with its own read-only flag. Everything else the NBD server is asked for is refused with the fix.
/// Unexporting stops new connections; connections already open keep their volume until they close.
/// With the node's block cache, a writable export (it holds the volume's lock) is served through it; each
/// opening starts from an empty cache generation, so nothing cached before the lock was last held is served.
/// </summary>
public sealed class NbdExportTable(IBlockVolumeProvider volumes, BlockCache? cache = null) : IBlockVolumeProvider
{
    private readonly Dictionary<string, Entry> _exports = new(StringComparer.Ordinal);

    public sealed record Entry(string Volume, bool ReadOnly, bool Locked);

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

    private async ValueTask<OpenVolumeResult> OpenAsync(Entry entry, VolumeOpenOptions options, CancellationToken cancellationToken)
    {
        var opened = await volumes.OpenAsync(entry.Volume, new VolumeOpenOptions(false, entry.ReadOnly || options.ReadOnly, "nbd"), cancellationToken).ConfigureAwait(false);
        if (opened.Volume is { } volume && cache is not null && entry.Locked && !volume.ReadOnly)
        {
            return OpenVolumeResult.Ok(new CachedBlockVolume(volume, cache, ownsInner: true));
        }
        return opened;
    }

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<string>>(List().Select(e => e.Volume).ToList());
}
