using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.Proto;

namespace Fabric.Node.Vms;

/// <summary>
/// The node's volumes for the block backend: replicated volumes of the cluster map opened through the node's
/// storage client (<see cref="VolumeClient"/>, with the node's identity). Opens of one volume share one
/// client (per read-only/writable mode), counted: every user (a VM disk, an NBD export, a tool's NBD
/// connection) gets its own <see cref="NodeVolume"/> handle, and the shared client lives while a handle does.
/// </summary>
public sealed class NodeVolumeProvider : IBlockVolumeProvider
{
    private readonly Func<ClusterClient> _client;
    private readonly Dictionary<(string Name, bool ReadOnly), Shared> _open = new();
    private readonly object _gate = new();

    internal sealed class Shared(VolumeClient volume, (string, bool) key)
    {
        public VolumeClient Volume { get; } = volume;
        public (string, bool) Key { get; } = key;
        public int Handles;
    }

    /// <param name="client">The node's storage client (created on first use).</param>
    public NodeVolumeProvider(Func<ClusterClient> client)
    {
        _client = client;
    }

    /// <summary>Volumes with at least one open handle (for status).</summary>
    public int OpenCount
    {
        get { lock (_gate) return _open.Count; }
    }

    public ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken)
    {
        var key = (volumeName, options.ReadOnly);
        lock (_gate)
        {
            if (!_open.TryGetValue(key, out var shared))
            {
                var volume = VolumeClient.Open(_client(), volumeName, out var error, readOnly: options.ReadOnly);
                if (volume is null) return ValueTask.FromResult(OpenVolumeResult.Fail(error ?? $"volume '{volumeName}' cannot be opened"));
                // Writes carry the lock epoch of the client (OSD-side fencing): a lock this node took before the
                // volume was opened (an NBD export) is adopted now; one taken after, through AdoptLock.
                if (!options.ReadOnly) volume.AdoptLock();
                shared = new Shared(volume, key);
                _open[key] = shared;
            }
            shared.Handles++;
            return ValueTask.FromResult(OpenVolumeResult.Ok(new NodeVolume(this, shared, options.Holder)));
        }
    }

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        ClusterMap map = _client().Map;
        return ValueTask.FromResult<IReadOnlyList<string>>(map.Volumes.Select(v => v.Name).Order(StringComparer.Ordinal).ToList());
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
        VolumeClient? close = null;
        lock (_gate)
        {
            if (--shared.Handles == 0 && _open.TryGetValue(shared.Key, out var current) && ReferenceEquals(current, shared))
            {
                _open.Remove(shared.Key);
                close = shared.Volume;
            }
        }
        if (close is not null) _ = close.DisposeAsync().AsTask();
    }
}
