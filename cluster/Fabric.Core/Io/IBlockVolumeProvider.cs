namespace Fabric.Core.Io;

/// <summary>
/// Opens volumes by name for the block backend. The node wires it to the volume client; tests wire it
/// to memory or file-backed volumes.
/// </summary>
public interface IBlockVolumeProvider
{
    /// <summary>Opens a volume; the result says why when it cannot (unknown volume, locked elsewhere).</summary>
    ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken);

    /// <summary>Names of the volumes that can be opened (for NBD_OPT_LIST).</summary>
    ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);
}

/// <param name="Exclusive">Take the volume's exclusive lock (the writer of a VM disk).</param>
/// <param name="ReadOnly">Open for reading only.</param>
/// <param name="Holder">Who holds it (VM name, tool): shown by `fabric volume lock ls`.</param>
/// <param name="Cache">
/// The user's cache mode. A write-through handle (<see cref="DiskCacheMode.WriteThrough"/>, <see cref="DiskCacheMode.None"/>)
/// completes every write only once it is durable on every replica, even where other handles of the volume share a
/// write cache; providers without a cache are write-through for every mode.
/// </param>
public readonly record struct VolumeOpenOptions(bool Exclusive = false, bool ReadOnly = false, string Holder = "", DiskCacheMode Cache = DiskCacheMode.Default);

public readonly record struct OpenVolumeResult(IBlockVolume? Volume, string? Error)
{
    public static OpenVolumeResult Ok(IBlockVolume volume) => new(volume, null);

    public static OpenVolumeResult Fail(string error) => new(null, error);
}
