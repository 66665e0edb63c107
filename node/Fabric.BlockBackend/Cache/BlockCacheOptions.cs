namespace Fabric.BlockBackend.Cache;

/// <summary>Config of the node's block cache ([block_cache] in the node config; off unless enabled).</summary>
public sealed record BlockCacheOptions
{
    public bool Enabled { get; init; }

    /// <summary>Memory for hot blocks (FASTER's in-memory log), a power of two.</summary>
    public long MemoryBytes { get; init; } = 256L << 20;

    /// <summary>How much the cache may spill to its local log file beyond memory; the oldest blocks fall off past it.</summary>
    public long DiskBytes { get; init; } = 4L << 30;

    /// <summary>Directory of the spill file (deleted on dispose); null = a temp directory.</summary>
    public string? Directory { get; init; }

    /// <summary>FASTER log page size, a power of two holding several 4 KiB records.</summary>
    public int PageBytes { get; init; } = 1 << 20;

    /// <summary>Hash index size in bytes (64-byte buckets).</summary>
    public long IndexBytes { get; init; } = 8L << 20;
}
