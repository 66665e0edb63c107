using Fabric.Core.Io;

namespace Fabric.BlockBackend.Nbd;

/// <summary>
/// The volumes the NBD server has open, shared by every connection to the same export name (a migration
/// has a source and a destination QEMU on one export, tools may add more). A volume is opened on the first
/// lease and disposed when the last lease is returned.
/// </summary>
internal sealed class NbdExportRegistry
{
    private readonly IBlockVolumeProvider _provider;
    private readonly bool _readOnly;
    private readonly Dictionary<string, Entry> _open = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    private sealed class Entry
    {
        public required Task<OpenVolumeResult> Opening;
        public int Leases;
    }

    public NbdExportRegistry(IBlockVolumeProvider provider, bool readOnly)
    {
        _provider = provider;
        _readOnly = readOnly;
    }

    public IBlockVolumeProvider Provider => _provider;

    /// <summary>Opens (or shares) an export; the error says why it cannot be served.</summary>
    public async Task<OpenVolumeResult> AcquireAsync(string name, CancellationToken cancellationToken)
    {
        Entry entry;
        lock (_gate)
        {
            if (!_open.TryGetValue(name, out entry!))
            {
                entry = new Entry
                {
                    Opening = _provider.OpenAsync(name, new VolumeOpenOptions(false, _readOnly, "nbd"), cancellationToken).AsTask(),
                };
                _open[name] = entry;
            }
            entry.Leases++;
        }
        OpenVolumeResult result;
        try
        {
            result = await entry.Opening.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            result = OpenVolumeResult.Fail($"opening '{name}' failed: {e.Message}");
        }
        if (result.Volume is null)
        {
            Release(name, null);
        }
        return result;
    }

    /// <summary>Returns a lease taken by <see cref="AcquireAsync"/>.</summary>
    public void Release(string name, IBlockVolume? volume)
    {
        Task<OpenVolumeResult>? toClose = null;
        lock (_gate)
        {
            if (!_open.TryGetValue(name, out var entry))
            {
                return;
            }
            if (--entry.Leases == 0)
            {
                _open.Remove(name);
                toClose = entry.Opening;
            }
        }
        if (toClose is { IsCompletedSuccessfully: true, Result.Volume: { } v })
        {
            _ = v.DisposeAsync().AsTask();
        }
    }

    public int OpenCount
    {
        get
        {
            lock (_gate)
            {
                return _open.Count;
            }
        }
    }
}
