namespace Fabric.BlockBackend.Cache;

/// <summary>
/// Limits of a <see cref="WriteBackVolume"/> (Ceph's rbd_cache_max_dirty, rbd_cache_target_dirty and
/// rbd_cache_max_dirty_age play the same roles).
/// </summary>
public sealed record WriteBackOptions
{
    /// <summary>Bytes of acknowledged, not yet written back data the volume may hold; writers wait beyond it.</summary>
    public long MaxDirtyBytes { get; init; } = 32L << 20;

    /// <summary>Writing back starts once this much is dirty (default: half of <see cref="MaxDirtyBytes"/>).</summary>
    public long? TargetDirtyBytes { get; init; }

    /// <summary>Dirty data older than this is written back even below the target.</summary>
    public TimeSpan MaxDirtyAge { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest single write-back (adjacent dirty blocks are merged up to this).</summary>
    public int MaxWritebackBytes { get; init; } = 1 << 20;

    /// <summary>Write-backs never cross a multiple of this (the volume's object size: one object op each).</summary>
    public long SplitBytes { get; init; } = 4L << 20;

    /// <summary>Write-backs running at once.</summary>
    public int MaxWritebacksInFlight { get; init; } = 16;

    /// <summary>Writes at least this large go to the volume directly (they gain nothing from the cache).</summary>
    public int DirectWriteBytes { get; init; } = 1 << 20;

    internal long Target => TargetDirtyBytes ?? MaxDirtyBytes / 2;

    /// <summary>Why the options cannot be used, or null.</summary>
    public string? Validate()
    {
        if (MaxDirtyBytes < WriteBackVolume.BlockBytes * 16L)
            return $"the write cache's size must be at least 64KiB, found {MaxDirtyBytes} bytes";
        if (Target <= 0 || Target > MaxDirtyBytes)
            return $"the write cache's target ({Target} bytes) must be above 0 and at most its size ({MaxDirtyBytes} bytes)";
        if (MaxWritebackBytes < WriteBackVolume.BlockBytes || MaxWritebackBytes % WriteBackVolume.BlockBytes != 0)
            return $"the largest write-back ({MaxWritebackBytes} bytes) must be a multiple of 4KiB";
        if (SplitBytes < WriteBackVolume.BlockBytes || SplitBytes % WriteBackVolume.BlockBytes != 0)
            return $"the split size ({SplitBytes} bytes) must be a multiple of 4KiB";
        if (MaxWritebacksInFlight < 1)
            return "at least one write-back must be allowed in flight";
        if (MaxDirtyAge <= TimeSpan.Zero)
            return "the largest dirty age must be positive";
        return null;
    }
}
