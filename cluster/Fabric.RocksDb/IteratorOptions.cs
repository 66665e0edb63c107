// What an iterator reads: an optional snapshot, and optional key bounds applied inside RocksDB
// (lower inclusive, upper exclusive), which is cheaper than stopping in the caller because
// RocksDB then skips tombstones and files beyond the bound. The bounds are copied into native
// memory owned by the iterator, so these arrays may be reused as soon as the iterator exists.
namespace Fabric.RocksDb;

public sealed record IteratorOptions
{
    /// <summary>Smallest key the iterator returns (inclusive), or null for no lower bound.</summary>
    public byte[]? LowerBound { get; init; }

    /// <summary>First key the iterator does not return (exclusive), or null for no upper bound.</summary>
    public byte[]? UpperBound { get; init; }

    /// <summary>Read as of this snapshot; null reads the latest state at creation time.</summary>
    public RocksDbSnapshot? Snapshot { get; init; }

    /// <summary>Put blocks read by this iterator into the block cache. Turn off for one-off full
    /// scans (scrub, backfill) so they do not evict the hot set.</summary>
    public bool FillCache { get; init; } = true;

    /// <summary>Options that visit exactly the keys starting with <paramref name="prefix"/>.</summary>
    public static IteratorOptions ForPrefix(ReadOnlySpan<byte> prefix, RocksDbSnapshot? snapshot = null) => new()
    {
        LowerBound = prefix.ToArray(),
        UpperBound = PrefixSuccessor(prefix),
        Snapshot = snapshot,
    };

    /// <summary>The smallest key greater than every key that starts with <paramref name="prefix"/>
    /// (bytewise order): the prefix with its last byte that is not 0xFF incremented and the rest
    /// cut. Null when there is none (empty prefix, or all bytes 0xFF): no upper bound needed.</summary>
    public static byte[]? PrefixSuccessor(ReadOnlySpan<byte> prefix)
    {
        for (int i = prefix.Length - 1; i >= 0; i--)
        {
            if (prefix[i] != 0xFF)
            {
                var successor = prefix[..(i + 1)].ToArray();
                successor[i]++;
                return successor;
            }
        }
        return null;
    }
}
