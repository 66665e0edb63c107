using FASTER.core;

namespace Fabric.BlockBackend.Cache;

/// <summary>A cached block: which volume incarnation (a generation number that changes when its cache is dropped)
/// and which 4 KiB block of it.</summary>
internal struct BlockKey : IFasterEqualityComparer<BlockKey>
{
    public long Generation;
    public long Block;

    public BlockKey(long generation, long block)
    {
        Generation = generation;
        Block = block;
    }

    public readonly long GetHashCode64(ref BlockKey key) =>
        (long)Utility.GetHashCode(key.Generation * unchecked((long)0x9E3779B97F4A7C15) ^ key.Block);

    public readonly bool Equals(ref BlockKey k1, ref BlockKey k2) => k1.Generation == k2.Generation && k1.Block == k2.Block;
}
