// The forwarding database of one network: MAC -> location, learned from source addresses and installed
// by the control plane. A MAC that shows up somewhere else moves at once (live migration announces with
// RARP or gratuitous ARP; the first such frame re-points the entry). Dynamic entries age out; static
// ones only change by the control plane or by a move.
//
// Single-threaded: owned by the datapath thread. Changes that alter forwarding (learn, move, remove)
// bump the owner's generation counter, which invalidates cached forwarding decisions.
using System.Runtime.InteropServices;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Bridging;

public sealed class MacTable
{
    private readonly Dictionary<ulong, FdbEntry> _entries = new();
    private readonly FdbGeneration _generation;

    public MacTable(FdbGeneration generation, int capacity = 8192)
    {
        _generation = generation;
        Capacity = capacity;
    }

    /// <summary>Bound on dynamic learning: a flood of random source MACs cannot grow the table without limit.</summary>
    public int Capacity { get; }
    public int Count => _entries.Count;
    public long Moves { get; private set; }
    public long LearnRefusedFull { get; private set; }

    public bool TryLookup(MacAddress mac, out FdbEntry entry) => _entries.TryGetValue(mac.Value, out entry);

    /// <summary>Learns <paramref name="mac"/> at <paramref name="location"/> from a frame seen at <paramref name="now"/>.</summary>
    public LearnResult Learn(MacAddress mac, FdbLocation location, long now)
    {
        if (mac.IsMulticast || mac.IsZero) return LearnResult.Refreshed;
        ref var e = ref CollectionsMarshal.GetValueRefOrNullRef(_entries, mac.Value);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref e))
        {
            e.LastSeen = now;
            if (e.Location == location) return LearnResult.Refreshed;
            e.Location = location;
            // Moved by traffic: the control plane's placement is stale now; the entry ages like a learned one
            // until the map confirms the new place (ApplyMap then makes it static again).
            e.Kind = FdbEntryKind.Dynamic;
            Moves++;
            _generation.Bump();
            return LearnResult.Moved;
        }
        if (_entries.Count >= Capacity)
        {
            LearnRefusedFull++;
            return LearnResult.Refreshed;
        }
        _entries[mac.Value] = new FdbEntry { Location = location, Kind = FdbEntryKind.Dynamic, LastSeen = now };
        _generation.Bump();
        return LearnResult.Learned;
    }

    /// <summary>Installs or re-points a static entry (control plane).</summary>
    public void SetStatic(MacAddress mac, FdbLocation location, long now)
    {
        ref var e = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, mac.Value, out bool existed);
        if (existed && e.Kind == FdbEntryKind.Static && e.Location == location) return;
        e = new FdbEntry { Location = location, Kind = FdbEntryKind.Static, LastSeen = now };
        _generation.Bump();
    }

    public bool Remove(MacAddress mac)
    {
        if (!_entries.Remove(mac.Value)) return false;
        _generation.Bump();
        return true;
    }

    /// <summary>Removes every entry that points at a port (port detached) or a remote node (node gone).</summary>
    public int RemoveWhere(Func<FdbLocation, FdbEntryKind, bool> predicate) => RemoveWhereEntry(e => predicate(e.Location, e.Kind));

    /// <summary>Removes dynamic entries not seen for <paramref name="agingTicks"/> (TimeProvider ticks).</summary>
    public int Age(long now, long agingTicks) =>
        RemoveWhereEntry(e => e.Kind == FdbEntryKind.Dynamic && now - e.LastSeen >= agingTicks);

    private int RemoveWhereEntry(Func<FdbEntry, bool> predicate)
    {
        List<ulong>? doomed = null;
        foreach (var (mac, e) in _entries)
            if (predicate(e)) (doomed ??= new()).Add(mac);
        if (doomed is null) return 0;
        foreach (var m in doomed) _entries.Remove(m);
        _generation.Bump();
        return doomed.Count;
    }

    public IEnumerable<(MacAddress Mac, FdbEntry Entry)> Entries => _entries.Select(kv => (new MacAddress(kv.Key), kv.Value));
}

/// <summary>A counter shared by the MAC tables of one switch: any forwarding-relevant change bumps it.</summary>
public sealed class FdbGeneration
{
    public long Value { get; private set; } = 1;
    public void Bump() => Value++;
}
