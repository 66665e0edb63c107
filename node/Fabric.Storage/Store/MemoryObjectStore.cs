namespace Fabric.Storage.Store;

/// <summary>
/// An in-memory <see cref="IObjectStore"/> with an explicit durability boundary, for tests and the
/// simulation: writes are visible at once, become durable at <see cref="Sync"/> (or at once with
/// <c>autoSync</c>), and <see cref="Crash"/> drops everything not yet durable, as a power cut does.
/// <see cref="FlipRandomBit"/> corrupts stored data to exercise checksums.
/// </summary>
public sealed class MemoryObjectStore : IObjectStore
{
    private readonly object _lock = new();
    private readonly bool _autoSync;
    private SortedSet<Entry> _visible = new(EntryComparer.Instance);
    private SortedSet<Entry> _durable = new(EntryComparer.Instance);
    private readonly List<(MemoryBatch Batch, Action? OnDurable)> _pending = new();
    private long _usedBytes;
    private readonly Dictionary<long, byte[]> _slotData = new();

    /// <param name="autoSync">Every batch is durable as soon as it is written.</param>
    /// <param name="totalBytes">The capacity it reports.</param>
    /// <param name="slots">Whether it has a slot file (<see cref="IObjectStore.HasSlots"/>). Slot data is durable
    /// as soon as it is written: a crash loses only the batches, and with them the records of slots written
    /// for them, which is what a synced-before-the-log slot file gives on a node.</param>
    /// <param name="placedWriteBlocks">Whole blocks a write must cover to be placed (<see cref="IObjectStore.PlacedWriteBlocks"/>).</param>
    public MemoryObjectStore(bool autoSync, long totalBytes = 64L << 30, bool slots = true, int placedWriteBlocks = ObjectBlocks.PlacedWriteBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(placedWriteBlocks, 1);
        _autoSync = autoSync;
        TotalBytes = totalBytes;
        Slots = slots ? new SlotAllocator() : null;
        PlacedWriteBlocks = placedWriteBlocks;
    }

    public int PlacedWriteBlocks { get; }

    public long UsedBytes => Interlocked.Read(ref _usedBytes) + (Slots?.UsedSlots ?? 0) * ObjectBlocks.BlockSize;

    public bool HasSlots => Slots is not null;

    public SlotAllocator? Slots { get; }

    public void WriteSlots(long first, ReadOnlySpan<byte> data)
    {
        if (Slots is null || data.Length % ObjectBlocks.BlockSize != 0)
        {
            throw new InvalidOperationException("slot writes need a slot file and whole blocks");
        }
        lock (_lock)
        {
            for (int i = 0; i < data.Length / ObjectBlocks.BlockSize; i++)
            {
                _slotData[first + i] = data.Slice(i * ObjectBlocks.BlockSize, ObjectBlocks.BlockSize).ToArray();
            }
        }
    }

    public bool ReadSlots(long first, Span<byte> destination)
    {
        lock (_lock)
        {
            for (int i = 0; i < destination.Length / ObjectBlocks.BlockSize; i++)
            {
                Span<byte> block = destination.Slice(i * ObjectBlocks.BlockSize, ObjectBlocks.BlockSize);
                if (_slotData.TryGetValue(first + i, out byte[]? data))
                {
                    data.CopyTo(block);
                }
                else
                {
                    block.Clear(); // Never written: what a sparse file reads.
                }
            }
            return true;
        }
    }

    /// <summary>Flips one bit in the data of a slot in use; false when none is.</summary>
    public bool FlipRandomSlotBit(Random random) => FlipRandomPlacedBit(random, [StoreKeys.PlacedKind]);

    /// <summary>Flips one bit in the slot data of a random placed record under <paramref name="prefix"/>; false when none.</summary>
    public bool FlipRandomPlacedBit(Random random, ReadOnlySpan<byte> prefix)
    {
        var placed = new List<long>();
        ObjectBlocks.ScanPlaced(this, prefix, (_, _, _, slot) => placed.Add(slot));
        lock (_lock)
        {
            var candidates = placed.Where(s => _slotData.ContainsKey(s)).ToList();
            if (candidates.Count == 0)
            {
                return false;
            }
            byte[] victim = _slotData[candidates[random.Next(candidates.Count)]];
            int bit = random.Next(victim.Length * 8);
            victim[bit / 8] ^= (byte)(1 << (bit % 8));
            return true;
        }
    }

    public long TotalBytes { get; }

    /// <summary>Batches written but not yet durable.</summary>
    public int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    public int Read(ReadOnlySpan<byte> key, Span<byte> destination)
    {
        lock (_lock)
        {
            if (!_visible.TryGetValue(new Entry(key.ToArray(), null), out Entry? found))
            {
                return -1;
            }
            byte[] value = found.Value!;
            if (value.Length <= destination.Length)
            {
                value.CopyTo(destination);
            }
            return value.Length;
        }
    }

    public int ReadChecksummed(ReadOnlySpan<byte> key, Span<byte> destination) => Read(key, destination);

    public void ReadChecksummed(ReadOnlySpan<byte> keys, ReadOnlySpan<int> keyLengths, Span<byte> values, int slotBytes, Span<int> valueLengths) =>
        Read(keys, keyLengths, values, slotBytes, valueLengths);

    public void Read(ReadOnlySpan<byte> keys, ReadOnlySpan<int> keyLengths, Span<byte> values, int slotBytes, Span<int> valueLengths)
    {
        int offset = 0;
        for (int i = 0; i < keyLengths.Length; i++)
        {
            valueLengths[i] = Read(keys.Slice(offset, keyLengths[i]), values.Slice(i * slotBytes, slotBytes));
            offset += keyLengths[i];
        }
    }

    public byte[]? Get(ReadOnlySpan<byte> key)
    {
        lock (_lock)
        {
            return _visible.TryGetValue(new Entry(key.ToArray(), null), out Entry? found) ? (byte[])found.Value!.Clone() : null;
        }
    }

    /// <summary>The durable value of a key (what would survive a crash now).</summary>
    public byte[]? GetDurable(ReadOnlySpan<byte> key)
    {
        lock (_lock)
        {
            return _durable.TryGetValue(new Entry(key.ToArray(), null), out Entry? found) ? (byte[])found.Value!.Clone() : null;
        }
    }

    public void Scan(ReadOnlySpan<byte> prefix, StoreScanVisitor visitor) => Scan(prefix, prefix, visitor);

    public void Scan(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> from, StoreScanVisitor visitor)
    {
        var snapshot = new List<Entry>();
        byte[] start = from.SequenceCompareTo(prefix) > 0 ? from.ToArray() : prefix.ToArray();
        byte[] end = StoreKeys.PrefixEnd(prefix);
        lock (_lock)
        {
            foreach (Entry entry in Between(_visible, start, end))
            {
                snapshot.Add(entry);
            }
        }
        foreach (Entry entry in snapshot)
        {
            if (!visitor(entry.Key, entry.Value))
            {
                return;
            }
        }
    }

    public IStoreBatch CreateBatch() => new MemoryBatch();

    public void Write(IStoreBatch batch, Action? onDurable)
    {
        var memoryBatch = (MemoryBatch)batch;
        lock (_lock)
        {
            Apply(_visible, memoryBatch, trackSize: true);
            if (!_autoSync)
            {
                _pending.Add((memoryBatch, onDurable));
                return;
            }
            Apply(_durable, memoryBatch, trackSize: false);
            memoryBatch.ReleaseSlots(Slots);
        }
        onDurable?.Invoke();
    }

    /// <summary>The memory store's durability is the test's (or the simulation's) to drive, with <see cref="Sync"/>
    /// and <see cref="Crash"/>: a writer asking for a sync gets none.</summary>
    public bool SyncWritten() => false;

    int IObjectStore.UnsyncedBatches => 0;

    TimeSpan IObjectStore.OldestUnsyncedAge => TimeSpan.Zero;

    /// <summary>Makes every written batch durable and runs their callbacks in order (on this thread).</summary>
    public void Sync()
    {
        List<(MemoryBatch Batch, Action? OnDurable)> done;
        lock (_lock)
        {
            done = new List<(MemoryBatch, Action?)>(_pending);
            _pending.Clear();
            foreach ((MemoryBatch batch, _) in done)
            {
                Apply(_durable, batch, trackSize: false);
                batch.ReleaseSlots(Slots);
            }
        }
        foreach ((_, Action? onDurable) in done)
        {
            onDurable?.Invoke();
        }
    }

    /// <summary>Loses every batch that was not durable; their callbacks never run.</summary>
    public void Crash()
    {
        lock (_lock)
        {
            _pending.Clear();
            _visible = new SortedSet<Entry>(EntryComparer.Instance);
            long used = 0;
            foreach (Entry entry in _durable)
            {
                _visible.Add(new Entry(entry.Key, (byte[])entry.Value!.Clone()));
                used += entry.Key.Length + entry.Value.Length;
            }
            _usedBytes = used;
        }
        // Allocations of lost batches go with them: the map is rebuilt from the durable records.
        ObjectBlocks.RebuildSlots(this);
    }

    /// <summary>Flips one bit in a random value whose key starts with <paramref name="prefix"/>; false when none.</summary>
    public bool FlipRandomBit(Random random, ReadOnlySpan<byte> prefix)
    {
        byte[] start = prefix.ToArray();
        byte[] end = StoreKeys.PrefixEnd(prefix);
        lock (_lock)
        {
            var candidates = new List<Entry>(Between(_durable, start, end).Where(e => e.Value!.Length > 0));
            if (candidates.Count == 0)
            {
                return false;
            }
            Entry victim = candidates[random.Next(candidates.Count)];
            int bit = random.Next(victim.Value!.Length * 8);
            victim.Value[bit / 8] ^= (byte)(1 << (bit % 8));
            if (_visible.TryGetValue(victim, out Entry? visible) && visible.Value!.Length == victim.Value.Length)
            {
                visible.Value[bit / 8] ^= (byte)(1 << (bit % 8));
            }
            return true;
        }
    }

    public void Dispose()
    {
    }

    private static IEnumerable<Entry> Between(SortedSet<Entry> set, byte[] start, byte[] end)
    {
        var low = new Entry(start, null);
        var high = new Entry(end, null);
        if (EntryComparer.Instance.Compare(low, high) >= 0)
        {
            yield break;
        }
        foreach (Entry entry in set.GetViewBetween(low, high))
        {
            if (EntryComparer.Instance.Compare(entry, high) < 0)
            {
                yield return entry;
            }
        }
    }

    private void Apply(SortedSet<Entry> target, MemoryBatch batch, bool trackSize)
    {
        foreach (MemoryBatch.Change change in batch.Changes)
        {
            switch (change.Kind)
            {
                case MemoryBatch.ChangeKind.Put:
                {
                    var probe = new Entry(change.Key, null);
                    if (target.TryGetValue(probe, out Entry? old))
                    {
                        if (trackSize)
                        {
                            _usedBytes += change.Value!.Length - old.Value!.Length;
                        }
                        old.Value = trackSize ? change.Value! : (byte[])change.Value!.Clone();
                    }
                    else
                    {
                        if (trackSize)
                        {
                            _usedBytes += change.Key.Length + change.Value!.Length;
                        }
                        target.Add(new Entry(change.Key, trackSize ? change.Value! : (byte[])change.Value!.Clone()));
                    }
                    break;
                }
                case MemoryBatch.ChangeKind.Delete:
                {
                    if (target.TryGetValue(new Entry(change.Key, null), out Entry? old))
                    {
                        target.Remove(old);
                        if (trackSize)
                        {
                            _usedBytes -= old.Key.Length + old.Value!.Length;
                        }
                    }
                    break;
                }
                case MemoryBatch.ChangeKind.DeleteRange:
                {
                    var doomed = new List<Entry>(Between(target, change.Key, change.Value!));
                    foreach (Entry entry in doomed)
                    {
                        target.Remove(entry);
                        if (trackSize)
                        {
                            _usedBytes -= entry.Key.Length + entry.Value!.Length;
                        }
                    }
                    break;
                }
            }
        }
    }

    private sealed class Entry(byte[] key, byte[]? value)
    {
        public byte[] Key { get; } = key;

        public byte[]? Value { get; set; } = value;
    }

    private sealed class EntryComparer : IComparer<Entry>
    {
        public static readonly EntryComparer Instance = new();

        public int Compare(Entry? x, Entry? y) => x!.Key.AsSpan().SequenceCompareTo(y!.Key);
    }

    private sealed class MemoryBatch : IStoreBatch
    {
        public enum ChangeKind
        {
            Put,
            Delete,
            DeleteRange,
        }

        public readonly record struct Change(ChangeKind Kind, byte[] Key, byte[]? Value);

        public List<Change> Changes { get; } = new();

        private PendingSlotFrees _frees;

        public int Count => Changes.Count;

        public void FreeSlots(long first, int count) => _frees.Add(first, count);

        /// <summary>The batch is durable: its freed slots may be handed out again.</summary>
        public void ReleaseSlots(SlotAllocator? slots) => _frees.Release(slots);

        public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Changes.Add(new Change(ChangeKind.Put, key.ToArray(), value.ToArray()));

        public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail)
        {
            byte[] value = new byte[head.Length + tail.Length];
            head.CopyTo(value);
            tail.CopyTo(value.AsSpan(head.Length));
            Changes.Add(new Change(ChangeKind.Put, key.ToArray(), value));
        }

        public void Delete(ReadOnlySpan<byte> key) => Changes.Add(new Change(ChangeKind.Delete, key.ToArray(), null));

        public void DeleteRange(ReadOnlySpan<byte> start, ReadOnlySpan<byte> end) => Changes.Add(new Change(ChangeKind.DeleteRange, start.ToArray(), end.ToArray()));

        public void Dispose()
        {
        }
    }
}
