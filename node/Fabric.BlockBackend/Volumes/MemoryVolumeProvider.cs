using System.Collections.Concurrent;
using Fabric.Core.Io;

namespace Fabric.BlockBackend.Volumes;

/// <summary>A provider over named in-memory volumes (tests). Opening returns the shared instance.</summary>
public sealed class MemoryVolumeProvider : IBlockVolumeProvider
{
    private readonly ConcurrentDictionary<string, MemoryBlockVolume> _volumes = new(StringComparer.Ordinal);

    public MemoryBlockVolume Add(string name, long sizeBytes)
    {
        var volume = new MemoryBlockVolume(name, sizeBytes);
        _volumes[name] = volume;
        return volume;
    }

    public ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken) =>
        new(_volumes.TryGetValue(volumeName, out var volume)
            ? OpenVolumeResult.Ok(volume)
            : OpenVolumeResult.Fail($"no volume named '{volumeName}'"));

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        new(_volumes.Keys.Order(StringComparer.Ordinal).ToList());
}
