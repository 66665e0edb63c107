// Exact-match cache in front of the flow tables: key -> decision, two-way set associative, fixed size,
// no allocation on lookup or insert. An entry is valid while the flow table version and the MAC table
// generation it was computed at are current; anything else is a miss and is recomputed.
using Fabric.Switch.Packets;

namespace Fabric.Switch.Datapath;

public sealed class FlowCache
{
    private struct Entry
    {
        public FlowKey Key;
        public ForwardingDecision? Decision;
    }

    private readonly Entry[] _entries;
    private readonly int _mask;
    private int _victim;

    public FlowCache(int capacity = 8192)
    {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0) throw new ArgumentException("capacity must be a power of two >= 2", nameof(capacity));
        _entries = new Entry[capacity];
        _mask = capacity - 1;
    }

    public long Hits;
    public long Misses;
    public int Capacity => _entries.Length;

    public ForwardingDecision? Lookup(in FlowKey key, long flowVersion, long fdbGeneration)
    {
        int i = key.GetHashCode() & _mask & ~1;
        ref var a = ref _entries[i];
        if (a.Decision is { } da && da.FlowVersion == flowVersion && da.FdbGeneration == fdbGeneration && a.Key.Equals(key))
        {
            Hits++;
            return da;
        }
        ref var b = ref _entries[i + 1];
        if (b.Decision is { } db && db.FlowVersion == flowVersion && db.FdbGeneration == fdbGeneration && b.Key.Equals(key))
        {
            Hits++;
            return db;
        }
        Misses++;
        return null;
    }

    public void Insert(in FlowKey key, ForwardingDecision decision)
    {
        int i = key.GetHashCode() & _mask & ~1;
        ref var a = ref _entries[i];
        ref var b = ref _entries[i + 1];
        // Prefer an empty or stale slot; otherwise alternate victims.
        bool aFree = a.Decision is null || a.Decision.FlowVersion != decision.FlowVersion || a.Decision.FdbGeneration != decision.FdbGeneration;
        bool bFree = b.Decision is null || b.Decision.FlowVersion != decision.FlowVersion || b.Decision.FdbGeneration != decision.FdbGeneration;
        ref var slot = ref aFree ? ref a : ref bFree ? ref b : ref ((_victim++ & 1) == 0 ? ref a : ref b);
        slot.Key = key;
        slot.Decision = decision;
    }

    public void Clear() => Array.Clear(_entries);
}
