using System.Diagnostics;
using System.Numerics;

namespace Fabric.Storage.Store;

/// <summary>
/// Free-space map of a store's slot file (<see cref="IObjectStore.AllocateSlots"/>): one bit per 4 KiB slot,
/// next-fit allocation of contiguous runs. The file grows at its end when no free slot is left below it.
/// </summary>
/// <remarks>
/// Not persisted: the store's placed-block records ('P' keys, <see cref="StoreKeys"/>) are the truth, and the
/// OSD rebuilds the map from them when it starts (<see cref="ObjectBlocks.RebuildSlots"/>). Thread-safe: slots
/// are allocated on the OSD's loop and freed on whichever thread makes a batch durable.
/// <para>It also remembers which objects may own slots (<see cref="MayOwn"/>): every object that has a placed
/// record is in that set (rebuilt with the map, added to before a placed write), so an object outside it has
/// none, and its reads and small writes skip the placed lookups. Objects stay in it until the next rebuild.</para>
/// </remarks>
public sealed class SlotAllocator
{
    private readonly object _lock = new();
    private readonly HashSet<int> _owners = new();
    private ulong[] _bits = new ulong[64];
    private long _end;      // One past the highest slot ever handed out: the file's used length in slots.
    private long _cursor;   // Where the next search starts (next-fit keeps a sequential writer's runs together).
    private long _used;

    /// <summary>Slots in use.</summary>
    public long UsedSlots
    {
        get
        {
            lock (_lock)
            {
                return _used;
            }
        }
    }

    /// <summary>One past the highest slot in use or ever handed out since the last <see cref="Clear"/>.</summary>
    public long EndSlot
    {
        get
        {
            lock (_lock)
            {
                return _end;
            }
        }
    }

    /// <summary>
    /// Hands out a run of 1 to <paramref name="want"/> contiguous free slots starting at <paramref name="first"/>;
    /// returns its length (a run shorter than asked when free space is fragmented: ask again for the rest).
    /// </summary>
    public int Allocate(int want, out long first)
    {
        if (want <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(want), want, "a run of at least one slot");
        }
        lock (_lock)
        {
            long start = FindFree(_cursor, _end);
            if (start < 0)
            {
                start = FindFree(0, Math.Min(_cursor, _end));
            }
            if (start < 0)
            {
                start = _end;
            }
            int length = 0;
            while (length < want && (start + length >= _end || !IsSet(start + length)))
            {
                length++;
            }
            Debug.Assert(length >= 1, "a free slot starts the run");
            SetRange(start, length, true);
            _used += length;
            _end = Math.Max(_end, start + length);
            _cursor = start + length;
            first = start;
            return length;
        }
    }

    /// <summary>Returns slots to the free space. Every one of them must be in use.</summary>
    public void Free(long first, int count)
    {
        lock (_lock)
        {
            for (long s = first; s < first + count; s++)
            {
                if (s >= _end || !IsSet(s))
                {
                    throw new InvalidOperationException($"slot {s} freed but not in use (a placed block was freed twice, or never allocated)");
                }
            }
            SetRange(first, count, false);
            _used -= count;
        }
    }

    /// <summary>Marks slots in use while the map is rebuilt from stored records. False when one already was
    /// (two records claim it: the store is inconsistent).</summary>
    public bool MarkUsed(long first, int count)
    {
        if (first < 0 || count <= 0)
        {
            return false;
        }
        lock (_lock)
        {
            bool fresh = true;
            for (long s = first; s < first + count; s++)
            {
                if (s < _end && IsSet(s))
                {
                    fresh = false;
                }
            }
            if (!fresh)
            {
                return false;
            }
            _end = Math.Max(_end, first + count);
            SetRange(first, count, true);
            _used += count;
            return true;
        }
    }

    /// <summary>Notes that the object with this owner hash (<see cref="ObjectBlocks"/>) may own slots.</summary>
    public void NoteOwner(int owner)
    {
        lock (_lock)
        {
            _owners.Add(owner);
        }
    }

    /// <summary>False when the object with this owner hash has no placed record; true when it may have.</summary>
    public bool MayOwn(int owner)
    {
        lock (_lock)
        {
            return _owners.Contains(owner);
        }
    }

    /// <summary>Forgets every allocation and owner (before a rebuild).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _owners.Clear();
            Array.Clear(_bits);
            _end = 0;
            _cursor = 0;
            _used = 0;
        }
    }

    public bool IsUsed(long slot)
    {
        lock (_lock)
        {
            return slot < _end && IsSet(slot);
        }
    }

    private bool IsSet(long slot) => (_bits[slot >> 6] & (1UL << (int)(slot & 63))) != 0;

    /// <summary>The first free slot in [from, to), or -1.</summary>
    private long FindFree(long from, long to)
    {
        long s = from;
        while (s < to)
        {
            ulong word = _bits[s >> 6] | ((1UL << (int)(s & 63)) - 1); // Bits below s count as taken.
            if (word != ulong.MaxValue)
            {
                long found = (s & ~63L) + BitOperations.TrailingZeroCount(~word);
                return found < to ? found : -1;
            }
            s = (s & ~63L) + 64;
        }
        return -1;
    }

    private void SetRange(long first, long count, bool value)
    {
        long needWords = ((first + count) >> 6) + 1;
        if (needWords > _bits.Length)
        {
            Array.Resize(ref _bits, (int)Math.Max(needWords, _bits.Length * 2L));
        }
        for (long s = first; s < first + count; s++)
        {
            ulong mask = 1UL << (int)(s & 63);
            if (value)
            {
                _bits[s >> 6] |= mask;
            }
            else
            {
                _bits[s >> 6] &= ~mask;
            }
        }
    }
}

/// <summary>The slots one batch frees, held back until the batch is durable (<see cref="IStoreBatch.FreeSlots"/>).</summary>
/// <remarks>A slot freed twice in one batch counts once: the paths that delete an object scan the records the store
/// shows, which do not include the batch being built, so two deletes of one object in one batch (the rollback of
/// two divergent log entries of one object, found by the simulation, seed 312) free the same slots twice.</remarks>
internal struct PendingSlotFrees
{
    private HashSet<long>? _slots;

    public void Add(long first, int count)
    {
        _slots ??= new HashSet<long>();
        for (long s = first; s < first + count; s++)
        {
            _slots.Add(s);
        }
    }

    /// <summary>The batch is durable: its freed slots may be handed out again.</summary>
    public void Release(SlotAllocator? slots)
    {
        if (_slots is null)
        {
            return;
        }
        foreach (long slot in _slots)
        {
            slots!.Free(slot, 1);
        }
        _slots = null;
    }
}
