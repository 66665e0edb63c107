using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using Fabric.Core.Checksums;

namespace Fabric.Storage.Store;

/// <summary>Metadata of one stored object: the version of its last change and its size in bytes
/// (<see cref="ObjectHead"/> has the rest: snapshot set, whiteout).</summary>
public readonly record struct ObjectMeta(ulong Version, ulong Size);

/// <summary>Outcome of reading stored blocks.</summary>
public enum BlockReadStatus
{
    Ok,
    /// <summary>A block's stored crc32c did not match its data: the copy is bad.</summary>
    ChecksumMismatch,
}

/// <summary>Visits one block of an object's head: its index and its stored value, inline ('D': crc + data) or
/// placed ('P': crc + slot, <paramref name="placed"/>), valid during the call. Return false to stop.</summary>
public delegate bool HeadBlockVisitor(uint index, ReadOnlySpan<byte> value, bool placed);

/// <summary>
/// Objects as 4 KiB blocks with a crc32c each (<see cref="StoreKeys"/>). Every read checks every
/// block it touches; a partial-block write reads, checks, merges and re-checksums the block. Absent
/// blocks are zeros (thin objects).
/// </summary>
/// <remarks>
/// A head block is stored one of two ways. Inline ('D'): its crc and data are the key's value, written
/// through the store's log: cheapest for small writes (one sync covers it). Placed ('P'): its data sits in a
/// slot of the store's slot file, written once, and the value is its crc and slot; a write of at least
/// <see cref="PlacedWriteBlocks"/> whole blocks goes there when the store has a slot file, which spares large
/// writes the log, the memtable and the blob files (RESULTS.md, issue 4). A rewrite of a placed block always
/// goes to a fresh slot (or inline) and frees the old slot with the batch (<see cref="IStoreBatch.FreeSlots"/>),
/// so a durable record never points at overwritten data. Clones ('K') are always inline: copy-on-write
/// copies a placed block's data, so a slot has exactly one owner.
/// </remarks>
public static class ObjectBlocks
{
    public const int BlockSize = 4096;
    public const int BlockValueSize = BlockSize + 4;
    public const int PlacedValueSize = 12;
    private const int MetaSize = 16;

    /// <summary>Whole blocks a write must cover to be placed in the slot file (64 KiB): below it, the extra sync
    /// of the slot file costs more than the copy through the log saves.</summary>
    public const int PlacedWriteBlocks = 16;

    /// <summary>Version and size of an object's head (also of a whiteout: see <see cref="ObjectFamily.ReadHead"/>).</summary>
    public static ObjectMeta? ReadMeta(IObjectStore store, ulong pg, string name)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        Span<byte> value = stackalloc byte[MetaSize];
        // A longer value (snapshot set) is not copied, but its length says it is there: read the first 16 bytes.
        int length = store.Read(key[..n], value);
        if (length < MetaSize)
        {
            return null;
        }
        if (length > MetaSize)
        {
            byte[]? all = store.Get(key[..n]);
            if (all is null || all.Length < MetaSize)
            {
                return null;
            }
            value = all;
        }
        return new ObjectMeta(BinaryPrimitives.ReadUInt64LittleEndian(value), BinaryPrimitives.ReadUInt64LittleEndian(value[8..]));
    }

    public static void WriteMeta(IStoreBatch batch, ulong pg, string name, ObjectMeta meta)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        Span<byte> value = stackalloc byte[MetaSize];
        BinaryPrimitives.WriteUInt64LittleEndian(value, meta.Version);
        BinaryPrimitives.WriteUInt64LittleEndian(value[8..], meta.Size);
        batch.Put(key[..n], value);
    }

    /// <summary>Blocks looked up in one batched read of the store (bounds the scratch buffer: 128 × 4 KiB).</summary>
    private const int ReadBatchBlocks = 128;

    /// <summary>Reads [offset, offset + destination.Length) of an object; holes read as zeros. A range of
    /// several blocks is looked up in batches (one pass through the store per batch, not one per block).</summary>
    public static BlockReadStatus Read(IObjectStore store, ulong pg, string name, ulong offset, Span<byte> destination)
    {
        if (destination.IsEmpty)
        {
            return BlockReadStatus.Ok;
        }
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int prefix = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        uint firstBlock = (uint)(offset / BlockSize);
        uint lastBlock = (uint)((offset + (ulong)destination.Length - 1) / BlockSize);
        int count = (int)Math.Min(lastBlock - firstBlock + 1, ReadBatchBlocks);
        int keyBytes = prefix + 4;
        // An object that may have placed blocks was written in large pieces: most of its blocks are placed, so
        // those records are looked up first. Any other object has only inline blocks.
        if (MayHavePlaced(store, pg, name))
        {
            return ReadPlaced(store, key[..prefix], offset, destination);
        }
        byte[] keys = ArrayPool<byte>.Shared.Rent(count * keyBytes);
        byte[] values = ArrayPool<byte>.Shared.Rent(count * BlockValueSize);
        int[] keyLengths = ArrayPool<int>.Shared.Rent(count);
        int[] lengths = ArrayPool<int>.Shared.Rent(count);
        try
        {
            int done = 0;
            while (done < destination.Length)
            {
                // One batch: the blocks from the current position on, at most ReadBatchBlocks of them.
                uint batchFirst = (uint)((offset + (ulong)done) / BlockSize);
                int batch = (int)Math.Min(lastBlock - batchFirst + 1, (uint)count);
                for (int i = 0; i < batch; i++)
                {
                    Span<byte> k = keys.AsSpan(i * keyBytes, keyBytes);
                    key[..prefix].CopyTo(k);
                    BinaryPrimitives.WriteUInt32BigEndian(k[prefix..], batchFirst + (uint)i);
                    keyLengths[i] = keyBytes;
                }
                if (batch == 1)
                {
                    lengths[0] = store.ReadChecksummed(keys.AsSpan(0, keyBytes), values.AsSpan(0, BlockValueSize));
                }
                else
                {
                    store.ReadChecksummed(keys.AsSpan(0, batch * keyBytes), keyLengths.AsSpan(0, batch), values, BlockValueSize, lengths.AsSpan(0, batch));
                }
                for (int i = 0; i < batch; i++)
                {
                    ulong position = offset + (ulong)done;
                    Debug.Assert(position / BlockSize == batchFirst + (uint)i, "the batch covers consecutive blocks from the current position");
                    int within = (int)(position % BlockSize);
                    int take = Math.Min(BlockSize - within, destination.Length - done);
                    ReadOnlySpan<byte> block = values.AsSpan(i * BlockValueSize, BlockValueSize);
                    if (lengths[i] == -1)
                    {
                        destination.Slice(done, take).Clear();
                    }
                    else
                    {
                        if (lengths[i] != BlockValueSize || !Verify(block))
                        {
                            return BlockReadStatus.ChecksumMismatch;
                        }
                        block.Slice(4 + within, take).CopyTo(destination[done..]);
                    }
                    done += take;
                }
            }
            return BlockReadStatus.Ok;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(keys);
            ArrayPool<byte>.Shared.Return(values);
            ArrayPool<int>.Shared.Return(keyLengths);
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>
    /// <see cref="Read"/> of an object that may have placed blocks: per batch of blocks, their placed records in one
    /// lookup; the data of placed blocks straight from the slot file into the destination (one read per run of
    /// consecutive slots, each block's crc checked where it landed); then the other blocks' inline values (small
    /// writes since, and holes) in one batched lookup.
    /// </summary>
    private static BlockReadStatus ReadPlaced(IObjectStore store, ReadOnlySpan<byte> namePrefix, ulong offset, Span<byte> destination)
    {
        ulong end = offset + (ulong)destination.Length;
        uint lastBlock = (uint)((end - 1) / BlockSize);
        if (offset / BlockSize == lastBlock)
        {
            return ReadPlacedBlock(store, namePrefix, lastBlock, offset, destination);
        }
        int keyBytes = namePrefix.Length + 4;
        uint[] indexes = ArrayPool<uint>.Shared.Rent(ReadBatchBlocks);
        long[] slots = ArrayPool<long>.Shared.Rent(ReadBatchBlocks);
        uint[] crcs = ArrayPool<uint>.Shared.Rent(ReadBatchBlocks);
        uint[] computedCrcs = ArrayPool<uint>.Shared.Rent(ReadBatchBlocks);
        byte[] scratch = ArrayPool<byte>.Shared.Rent(ReadBatchBlocks * BlockValueSize);
        byte[] keys = ArrayPool<byte>.Shared.Rent(ReadBatchBlocks * keyBytes);
        int[] keyLengths = ArrayPool<int>.Shared.Rent(ReadBatchBlocks);
        int[] lengths = ArrayPool<int>.Shared.Rent(ReadBatchBlocks);
        try
        {
            for (uint batchFirst = (uint)(offset / BlockSize); batchFirst <= lastBlock;)
            {
                int batch = (int)Math.Min(lastBlock - batchFirst + 1, (uint)ReadBatchBlocks);
                for (int i = 0; i < batch; i++)
                {
                    indexes[i] = batchFirst + (uint)i;
                }
                LookupPlaced(store, namePrefix, indexes.AsSpan(0, batch), slots.AsSpan(0, batch), crcs.AsSpan(0, batch));
                int inline = 0;
                for (int i = 0; i < batch;)
                {
                    if (slots[i] == -2)
                    {
                        return BlockReadStatus.ChecksumMismatch; // A malformed record.
                    }
                    if (slots[i] == -1)
                    {
                        Span<byte> k = keys.AsSpan(inline * keyBytes, keyBytes);
                        namePrefix.CopyTo(k);
                        BinaryPrimitives.WriteUInt32BigEndian(k[namePrefix.Length..], indexes[i]);
                        keyLengths[inline++] = keyBytes;
                        i++;
                        continue;
                    }
                    (ulong from, ulong to) = Clip(indexes[i], offset, end);
                    if (to - from < BlockSize)
                    {
                        // A block the read covers in part: through a scratch block.
                        Span<byte> block = scratch.AsSpan(0, BlockSize);
                        if (!store.ReadSlots(slots[i], block) || Crc32C.Compute(block) != crcs[i])
                        {
                            return BlockReadStatus.ChecksumMismatch;
                        }
                        block[(int)(from - (ulong)indexes[i] * BlockSize)..(int)(to - (ulong)indexes[i] * BlockSize)].CopyTo(destination[(int)(from - offset)..]);
                        i++;
                        continue;
                    }
                    // A run of whole blocks in consecutive slots: one read into the destination.
                    int j = i + 1;
                    while (j < batch && slots[j] == slots[j - 1] + 1 && Clip(indexes[j], offset, end) is var (f, t) && t - f == BlockSize)
                    {
                        j++;
                    }
                    Span<byte> target = destination.Slice((int)(from - offset), (j - i) * BlockSize);
                    if (!store.ReadSlots(slots[i], target))
                    {
                        return BlockReadStatus.ChecksumMismatch;
                    }
                    Span<uint> computed = computedCrcs.AsSpan(0, j - i);
                    Crc32C.ComputeBlocks(target, BlockSize, computed);
                    for (int b = i; b < j; b++)
                    {
                        if (computed[b - i] != crcs[b])
                        {
                            return BlockReadStatus.ChecksumMismatch;
                        }
                    }
                    i = j;
                }
                if (inline > 0)
                {
                    // Blocks without a placed record: inline values or holes.
                    store.ReadChecksummed(keys.AsSpan(0, inline * keyBytes), keyLengths.AsSpan(0, inline), scratch, BlockValueSize, lengths.AsSpan(0, inline));
                    for (int m = 0; m < inline; m++)
                    {
                        uint index = BinaryPrimitives.ReadUInt32BigEndian(keys.AsSpan(m * keyBytes + namePrefix.Length, 4));
                        (ulong from, ulong to) = Clip(index, offset, end);
                        Span<byte> into = destination.Slice((int)(from - offset), (int)(to - from));
                        ReadOnlySpan<byte> value = scratch.AsSpan(m * BlockValueSize, BlockValueSize);
                        if (lengths[m] == -1)
                        {
                            into.Clear();
                        }
                        else if (lengths[m] != BlockValueSize || !Verify(value))
                        {
                            return BlockReadStatus.ChecksumMismatch;
                        }
                        else
                        {
                            value.Slice(4 + (int)(from - (ulong)index * BlockSize), into.Length).CopyTo(into);
                        }
                    }
                }
                batchFirst += (uint)batch;
            }
            return BlockReadStatus.Ok;
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(indexes);
            ArrayPool<long>.Shared.Return(slots);
            ArrayPool<uint>.Shared.Return(crcs);
            ArrayPool<uint>.Shared.Return(computedCrcs);
            ArrayPool<byte>.Shared.Return(scratch);
            ArrayPool<byte>.Shared.Return(keys);
            ArrayPool<int>.Shared.Return(keyLengths);
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary><see cref="ReadPlaced"/> within one block (the common random read): one lookup of its chunk's record,
    /// no batch buffers.</summary>
    private static BlockReadStatus ReadPlacedBlock(IObjectStore store, ReadOnlySpan<byte> namePrefix, uint index, ulong offset, Span<byte> destination)
    {
        long slot = LookupPlacedBlock(store, namePrefix, index, out uint crc);
        int within = (int)(offset - (ulong)index * BlockSize);
        if (slot == -2)
        {
            return BlockReadStatus.ChecksumMismatch;
        }
        if (slot >= 0)
        {
            if (destination.Length == BlockSize)
            {
                return store.ReadSlots(slot, destination) && Crc32C.Compute(destination) == crc ? BlockReadStatus.Ok : BlockReadStatus.ChecksumMismatch;
            }
            Span<byte> data = stackalloc byte[BlockSize];
            if (!store.ReadSlots(slot, data) || Crc32C.Compute(data) != crc)
            {
                return BlockReadStatus.ChecksumMismatch;
            }
            data.Slice(within, destination.Length).CopyTo(destination);
            return BlockReadStatus.Ok;
        }
        // Not placed: an inline value (a small write since) or a hole.
        Span<byte> key = stackalloc byte[namePrefix.Length + 4];
        namePrefix.CopyTo(key);
        BinaryPrimitives.WriteUInt32BigEndian(key[namePrefix.Length..], index);
        Span<byte> value = stackalloc byte[BlockValueSize];
        int length = store.ReadChecksummed(key, value);
        if (length == -1)
        {
            destination.Clear();
            return BlockReadStatus.Ok;
        }
        if (length != BlockValueSize || !Verify(value))
        {
            return BlockReadStatus.ChecksumMismatch;
        }
        value.Slice(4 + within, destination.Length).CopyTo(destination);
        return BlockReadStatus.Ok;
    }

    /// <summary>The part of block <paramref name="index"/> inside the read [offset, end), as object byte positions.</summary>
    private static (ulong From, ulong To) Clip(uint index, ulong offset, ulong end)
    {
        ulong start = (ulong)index * BlockSize;
        return (Math.Max(start, offset), Math.Min(start + BlockSize, end));
    }

    /// <summary>The in-memory key of an object in the store's set of slot owners (<see cref="SlotAllocator.MayOwn"/>).</summary>
    private static int OwnerHash(ulong pg, string name) => HashCode.Combine(pg, name);

    /// <summary>False when the object certainly has no placed block (then no placed record needs a lookup).</summary>
    public static bool MayHavePlaced(IObjectStore store, ulong pg, string name) => store.Slots is { } slots && slots.MayOwn(OwnerHash(pg, name));

    /// <summary>
    /// Looks up the placed entries of <paramref name="blocks"/> (ascending) of the object whose head-block key prefix
    /// (kind, pg, name) is <paramref name="namePrefix"/> (the kind byte is replaced), one batched read of their chunk
    /// records: slot i is the block's slot, -1 when it is not placed, -2 when its chunk's record is malformed; crc i
    /// its stored crc32c.
    /// </summary>
    /// <remarks>The records are read with the store's own checks: a damaged record could otherwise say a block is
    /// not placed, and the block would read as a hole without any crc to catch it.</remarks>
    private static void LookupPlaced(IObjectStore store, ReadOnlySpan<byte> namePrefix, ReadOnlySpan<uint> blocks, Span<long> slots, Span<uint> crcs)
    {
        int count = blocks.Length;
        if (count == 0)
        {
            return;
        }
        int chunks = (int)(PlacedChunk.ChunkOf(blocks[^1]) - PlacedChunk.ChunkOf(blocks[0]) + 1);
        uint firstChunk = PlacedChunk.ChunkOf(blocks[0]);
        int keyBytes = namePrefix.Length + 4;
        byte[] keys = ArrayPool<byte>.Shared.Rent(chunks * keyBytes);
        byte[] values = ArrayPool<byte>.Shared.Rent(chunks * PlacedChunk.MaxSize);
        int[] keyLengths = ArrayPool<int>.Shared.Rent(chunks);
        int[] lengths = ArrayPool<int>.Shared.Rent(chunks);
        try
        {
            for (int c = 0; c < chunks; c++)
            {
                Span<byte> k = keys.AsSpan(c * keyBytes, keyBytes);
                namePrefix.CopyTo(k);
                k[0] = StoreKeys.PlacedKind;
                BinaryPrimitives.WriteUInt32BigEndian(k[namePrefix.Length..], firstChunk + (uint)c);
                keyLengths[c] = keyBytes;
            }
            store.Read(keys.AsSpan(0, chunks * keyBytes), keyLengths.AsSpan(0, chunks), values, PlacedChunk.MaxSize, lengths.AsSpan(0, chunks));
            for (int i = 0; i < count; i++)
            {
                int c = (int)(PlacedChunk.ChunkOf(blocks[i]) - firstChunk);
                slots[i] = PlacedChunk.EntryOf(values.AsSpan(c * PlacedChunk.MaxSize, PlacedChunk.MaxSize), lengths[c], (int)(blocks[i] % PlacedChunk.Blocks), out crcs[i]);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(keys);
            ArrayPool<byte>.Shared.Return(values);
            ArrayPool<int>.Shared.Return(keyLengths);
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>
    /// Looks up the placed entry of head block <paramref name="index"/> of the object whose head-block key prefix is
    /// <paramref name="namePrefix"/>: one read of its chunk's record, with the store's own checks (see
    /// <see cref="LookupPlaced"/>). Its slot, -1 when it is not placed, -2 when the record is malformed.
    /// </summary>
    private static long LookupPlacedBlock(IObjectStore store, ReadOnlySpan<byte> namePrefix, uint index, out uint crc)
    {
        Span<byte> key = stackalloc byte[namePrefix.Length + 4];
        namePrefix.CopyTo(key);
        key[0] = StoreKeys.PlacedKind;
        BinaryPrimitives.WriteUInt32BigEndian(key[namePrefix.Length..], PlacedChunk.ChunkOf(index));
        Span<byte> record = stackalloc byte[PlacedChunk.MaxSize];
        int length = store.Read(key, record);
        return PlacedChunk.EntryOf(record, length, (int)(index % PlacedChunk.Blocks), out crc);
    }

    /// <summary>
    /// The stored form of head block <paramref name="index"/> as an inline value in <paramref name="block"/>
    /// (crc + data): its length (<see cref="BlockValueSize"/>), -1 when absent, another length when malformed or
    /// unreadable.
    /// </summary>
    public static int ReadHeadBlock(IObjectStore store, ulong pg, string name, uint index, Span<byte> block)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int prefix = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        int n = BlockKey(key, prefix, index);
        int length = store.ReadChecksummed(key[..n], block);
        if (length >= 0 || !MayHavePlaced(store, pg, name))
        {
            return length;
        }
        long slot = LookupPlacedBlock(store, key[..prefix], index, out uint crc);
        if (slot < 0)
        {
            return slot == -1 ? -1 : -2;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(block, crc);
        return store.ReadSlots(slot, block.Slice(4, BlockSize)) ? BlockValueSize : -2;
    }

    /// <summary>Visits one placed block of a record under a scanned prefix: the record's key, the block's index, crc and slot.</summary>
    public delegate void PlacedSlotVisitor(ReadOnlySpan<byte> recordKey, uint block, uint crc, long slot);

    /// <summary>Visits every placed block of the records under <paramref name="prefix"/>; returns how many records were
    /// malformed (and skipped).</summary>
    public static int ScanPlaced(IObjectStore store, ReadOnlySpan<byte> prefix, PlacedSlotVisitor visitor)
    {
        int malformed = 0;
        store.Scan(prefix, (k, v) =>
        {
            uint chunk = StoreKeys.BlockOf(k);
            bool ok = v.Length >= PlacedChunk.HeaderSize && v.Length <= PlacedChunk.MaxSize;
            for (int i = 0; ok && i < PlacedChunk.Blocks; i++)
            {
                long slot = PlacedChunk.EntryOf(v, v.Length, i, out uint crc);
                if (slot == -2)
                {
                    ok = false;
                }
                else if (slot >= 0)
                {
                    visitor(k, chunk * PlacedChunk.Blocks + (uint)i, crc, slot);
                }
            }
            if (!ok)
            {
                malformed++;
            }
            return true;
        });
        return malformed;
    }

    /// <summary>Frees the slots of every placed record under <paramref name="prefix"/> with the batch (the caller
    /// deletes the records).</summary>
    public static void AddFreePlaced(IObjectStore store, IStoreBatch batch, ReadOnlySpan<byte> prefix)
    {
        if (!store.HasSlots)
        {
            return;
        }
        ScanPlaced(store, prefix, (_, _, _, slot) => batch.FreeSlots(slot, 1));
    }

    /// <summary>Deletes every block of the head (inline and placed; not the clones), freeing placed slots with the batch.</summary>
    public static void AddDeleteHeadData(IObjectStore store, IStoreBatch batch, ulong pg, string name)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        batch.DeleteRange(key[..n], StoreKeys.PrefixEnd(key[..n]));
        if (MayHavePlaced(store, pg, name))
        {
            n = StoreKeys.Named(key, StoreKeys.PlacedKind, pg, name);
            AddFreePlaced(store, batch, key[..n]);
            batch.DeleteRange(key[..n], StoreKeys.PrefixEnd(key[..n]));
        }
    }

    /// <summary>Visits every block of the head, inline and placed, in index order.</summary>
    public static void ScanHead(IObjectStore store, ulong pg, string name, HeadBlockVisitor visitor)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        // The placed blocks, in index order, merged below into the scan of the inline ones. A malformed record
        // becomes one entry with its raw value (of the wrong size, which scrub reports and reads fail on).
        var placed = new List<(uint Index, uint Crc, long Slot, byte[]? Malformed)>();
        if (MayHavePlaced(store, pg, name))
        {
            int p = StoreKeys.Named(key, StoreKeys.PlacedKind, pg, name);
            store.Scan(key[..p], (k, v) =>
            {
                uint chunk = StoreKeys.BlockOf(k);
                for (int i = 0; i < PlacedChunk.Blocks; i++)
                {
                    long slot = PlacedChunk.EntryOf(v, v.Length, i, out uint crc);
                    if (slot == -2)
                    {
                        placed.Add((chunk * PlacedChunk.Blocks, 0, -1, v.ToArray()));
                        break;
                    }
                    if (slot >= 0)
                    {
                        placed.Add((chunk * PlacedChunk.Blocks + (uint)i, crc, slot, null));
                    }
                }
                return true;
            });
        }
        // A placed block's value as visitors see it (crc + slot), valid during the call, like a scanned value.
        byte[] record = new byte[PlacedValueSize];
        bool VisitPlaced(int at)
        {
            (uint index, uint crc, long slot, byte[]? malformed) = placed[at];
            if (malformed is not null)
            {
                return visitor(index, malformed, true);
            }
            BinaryPrimitives.WriteUInt32LittleEndian(record, crc);
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(4), slot);
            return visitor(index, record, true);
        }
        int next = 0;
        bool go = true;
        int n = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        store.Scan(key[..n], (k, v) =>
        {
            uint index = StoreKeys.BlockOf(k);
            while (go && next < placed.Count && placed[next].Index < index)
            {
                go = VisitPlaced(next++);
            }
            go = go && visitor(index, v, false);
            return go;
        });
        while (go && next < placed.Count)
        {
            go = VisitPlaced(next++);
        }
    }

    /// <summary>
    /// Adds a write of <paramref name="data"/> at <paramref name="offset"/> to the batch (null data =
    /// zeros, deallocating whole blocks). Returns false when a partial block it had to merge failed its
    /// checksum: the merged block is then written with zeros in place of the bad bytes and the caller
    /// must mark the object missing so that it is recovered from a good copy. With
    /// <paramref name="cowClone"/> set, every block is first preserved in that clone (copy-on-write).
    /// It reads the store, which does not see the batch being built: one write per object per batch (a log entry
    /// each), or writes of disjoint blocks of an object without placed blocks (copy-up).
    /// </summary>
    public static bool AddWrite(IObjectStore store, IStoreBatch batch, ulong pg, string name, ulong offset, int length, ReadOnlySpan<byte> data, bool zero, ulong cowClone = 0)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int prefix = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        byte[] block = ArrayPool<byte>.Shared.Rent(BlockValueSize);
        bool clean = true;
        // The whole blocks [wholeFirst, wholeEnd) go to the slot file when there are enough of them.
        uint wholeFirst = (uint)((offset + BlockSize - 1) / BlockSize);
        uint wholeEnd = (uint)((offset + (ulong)length) / BlockSize);
        bool place = !zero && store.HasSlots && wholeEnd > wholeFirst && wholeEnd - wholeFirst >= store.PlacedWriteBlocks;
        // Edits of the object's placed records, put once at the end; none for an object that has no placed block
        // and does not get one.
        PlacedChunkEdits? edits = place || MayHavePlaced(store, pg, name) ? new PlacedChunkEdits(store, batch, pg, name) : null;
        try
        {
            int done = 0;
            while (done < length)
            {
                ulong position = offset + (ulong)done;
                uint index = (uint)(position / BlockSize);
                int within = (int)(position % BlockSize);
                int take = Math.Min(BlockSize - within, length - done);
                if (place && index == wholeFirst)
                {
                    int blocks = (int)(wholeEnd - wholeFirst);
                    AddPlacedWrite(store, batch, edits!, pg, name, wholeFirst, data.Slice(done, blocks * BlockSize), cowClone, block);
                    done += blocks * BlockSize;
                    continue;
                }
                int n = BlockKey(key, prefix, index);
                if (cowClone != 0)
                {
                    ObjectFamily.Preserve(store, batch, pg, name, cowClone, index, block);
                }
                if (take == BlockSize)
                {
                    if (zero)
                    {
                        batch.Delete(key[..n]);
                    }
                    else
                    {
                        PutSealed(batch, key[..n], data.Slice(done, BlockSize));
                    }
                    edits?.SetNotPlaced(index, inline: !zero);
                }
                else
                {
                    int existing = ReadHeadBlock(store, pg, name, index, block);
                    if (existing < 0 && existing != -1 || existing >= 0 && (existing != BlockValueSize || !Verify(block)))
                    {
                        clean = false;
                        block.AsSpan(0, BlockValueSize).Clear();
                    }
                    else if (existing == -1)
                    {
                        block.AsSpan(0, BlockValueSize).Clear();
                    }
                    Span<byte> payload = block.AsSpan(4, BlockSize);
                    if (zero)
                    {
                        payload.Slice(within, take).Clear();
                    }
                    else
                    {
                        data.Slice(done, take).CopyTo(payload[within..]);
                    }
                    if (zero && existing == -1)
                    {
                        // Zeroing part of a hole leaves a hole.
                    }
                    else
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(block, Crc32C.Compute(payload));
                        batch.Put(key[..n], block.AsSpan(0, BlockValueSize));
                    }
                    edits?.SetNotPlaced(index, inline: !(zero && existing == -1));
                }
                done += take;
            }
            edits?.Flush();
            return clean;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>
    /// Writes whole blocks <paramref name="first"/>.. into fresh slots and puts their placed records; the
    /// blocks' previous forms go (inline values deleted, old slots freed with the batch), after copy-on-write
    /// into <paramref name="cowClone"/> when set.
    /// </summary>
    private static void AddPlacedWrite(IObjectStore store, IStoreBatch batch, PlacedChunkEdits edits, ulong pg, string name, uint first, ReadOnlySpan<byte> data, ulong cowClone, byte[] scratch)
    {
        Debug.Assert(data.Length % BlockSize == 0 && data.Length > 0);
        int blocks = data.Length / BlockSize;
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int prefix = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        if (cowClone != 0)
        {
            for (int i = 0; i < blocks; i++)
            {
                ObjectFamily.Preserve(store, batch, pg, name, cowClone, first + (uint)i, scratch);
            }
        }
        store.Slots!.NoteOwner(OwnerHash(pg, name)); // Before any record exists: see SlotAllocator.MayOwn.
        uint[] crcs = ArrayPool<uint>.Shared.Rent(blocks);
        try
        {
            PlaceRuns(store, batch, edits, first, data, crcs, key, prefix);
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(crcs);
        }
    }

    /// <summary>The slot runs of <see cref="AddPlacedWrite"/>: allocate, write, record each block.</summary>
    private static void PlaceRuns(IObjectStore store, IStoreBatch batch, PlacedChunkEdits edits, uint first, ReadOnlySpan<byte> data, uint[] crcs, Span<byte> key, int prefix)
    {
        int blocks = data.Length / BlockSize;
        int done = 0;
        while (done < blocks)
        {
            int run = store.Slots!.Allocate(blocks - done, out long slot);
            ReadOnlySpan<byte> runData = data.Slice(done * BlockSize, run * BlockSize);
            try
            {
                store.WriteSlots(slot, runData);
            }
            catch (IOException)
            {
                // The slot file refused (disk full): nothing points at the run yet, so it is free again, and the
                // rest of the write goes through the log like a small one.
                store.Slots.Free(slot, run);
                for (int i = done; i < blocks; i++)
                {
                    PutSealed(batch, key[..BlockKey(key, prefix, first + (uint)i)], data.Slice(i * BlockSize, BlockSize));
                    edits.SetNotPlaced(first + (uint)i, inline: true);
                }
                return;
            }
            Crc32C.ComputeBlocks(runData, BlockSize, crcs.AsSpan(0, run));
            for (int i = 0; i < run; i++)
            {
                uint index = first + (uint)(done + i);
                // The block's previous form goes: an old slot is freed with the batch, an inline value that may be
                // there is deleted (the chunk's record knows which are not, so rewrites of placed data skip that).
                if (edits.SetPlaced(index, crcs[i], slot + i))
                {
                    batch.Delete(key[..BlockKey(key, prefix, index)]);
                }
            }
            done += run;
        }
    }

    /// <summary>Deletes an object's metadata and every block, its clones' included (the whole family).</summary>
    public static void AddDelete(IObjectStore store, IStoreBatch batch, ulong pg, string name)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        batch.Delete(key[..n]);
        AddDeleteHeadData(store, batch, pg, name);
        n = StoreKeys.Named(key, StoreKeys.CloneDataKind, pg, name);
        batch.DeleteRange(key[..n], StoreKeys.PrefixEnd(key[..n]));
    }

    /// <summary>
    /// Reads every present block of an object (for recovery pushes): block indexes and their data
    /// concatenated. Returns false when a block fails its checksum.
    /// </summary>
    public static bool ReadAll(IObjectStore store, ulong pg, string name, List<uint> blocks, ArrayBufferWriter<byte> data)
    {
        bool ok = true;
        ScanHead(store, pg, name, (index, v, placed) =>
        {
            Span<byte> payload = data.GetSpan(BlockSize)[..BlockSize];
            if (!ReadBlockData(store, v, placed, payload))
            {
                ok = false;
                return false;
            }
            data.Advance(BlockSize);
            blocks.Add(index);
            return true;
        });
        return ok;
    }

    /// <summary>The data of one stored head block into <paramref name="payload"/>; false when it is malformed,
    /// unreadable or fails its checksum.</summary>
    public static bool ReadBlockData(IObjectStore store, ReadOnlySpan<byte> value, bool placed, Span<byte> payload)
    {
        if (placed)
        {
            if (value.Length != PlacedValueSize || !store.ReadSlots(BinaryPrimitives.ReadInt64LittleEndian(value[4..]), payload))
            {
                return false;
            }
        }
        else if (value.Length == BlockValueSize)
        {
            value.Slice(4, BlockSize).CopyTo(payload);
        }
        else
        {
            return false;
        }
        return BinaryPrimitives.ReadUInt32LittleEndian(value) == Crc32C.Compute(payload);
    }

    /// <summary>Replaces an object with the given blocks (recovery apply).</summary>
    public static void AddReplace(IObjectStore store, IStoreBatch batch, ulong pg, string name, ObjectMeta meta, IReadOnlyList<uint> blocks, ReadOnlySpan<byte> data)
    {
        AddDelete(store, batch, pg, name);
        AddHeadBlocks(store, batch, pg, name, blocks, data);
        WriteMeta(batch, pg, name, meta);
    }

    /// <summary>
    /// Puts the head blocks of a recovery push (indexes ascending, their data back to back) into a batch that has
    /// just deleted the head (<see cref="AddDelete"/>): runs of at least <see cref="IObjectStore.PlacedWriteBlocks"/>
    /// consecutive blocks are placed, like the large writes that made them, the rest inline.
    /// </summary>
    public static void AddHeadBlocks(IObjectStore store, IStoreBatch batch, ulong pg, string name, IReadOnlyList<uint> blocks, ReadOnlySpan<byte> data)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int prefix = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        // The head was deleted in this batch: the edits start from empty chunks (nothing placed, nothing inline),
        // not from the records still in the store.
        var edits = store.HasSlots ? new PlacedChunkEdits(store, batch, pg, name, startEmpty: true) : null;
        byte[] scratch = ArrayPool<byte>.Shared.Rent(BlockValueSize);
        try
        {
            for (int i = 0; i < blocks.Count;)
            {
                int j = i + 1;
                while (j < blocks.Count && blocks[j] == blocks[j - 1] + 1)
                {
                    j++;
                }
                if (edits is not null && j - i >= store.PlacedWriteBlocks)
                {
                    AddPlacedWrite(store, batch, edits, pg, name, blocks[i], data.Slice(i * BlockSize, (j - i) * BlockSize), cowClone: 0, scratch);
                }
                else
                {
                    for (int b = i; b < j; b++)
                    {
                        PutSealed(batch, key[..BlockKey(key, prefix, blocks[b])], data.Slice(b * BlockSize, BlockSize));
                        edits?.SetNotPlaced(blocks[b], inline: true);
                    }
                }
                i = j;
            }
            edits?.Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Completes a block key after its name prefix (<see cref="StoreKeys.Named"/> encoded once per request).</summary>
    private static int BlockKey(Span<byte> key, int prefix, uint index)
    {
        BinaryPrimitives.WriteUInt32BigEndian(key[prefix..], index);
        return prefix + 4;
    }

    /// <summary>Puts one whole block: its crc32c, then the payload (one copy, into the batch).</summary>
    internal static void PutSealed(IStoreBatch batch, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
    {
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(crc, Crc32C.Compute(payload));
        batch.Put(key, crc, payload);
    }

    internal static void Seal(byte[] block, ReadOnlySpan<byte> payload)
    {
        payload.CopyTo(block.AsSpan(4));
        BinaryPrimitives.WriteUInt32LittleEndian(block, Crc32C.Compute(payload));
    }

    /// <summary>
    /// Rebuilds the store's slot map from its placed records (when the store opens, or after a simulated crash).
    /// Returns the records that claim a slot another record already claimed (an inconsistent store: 0).
    /// </summary>
    public static int RebuildSlots(IObjectStore store)
    {
        if (store.Slots is not { } slots)
        {
            return 0;
        }
        slots.Clear();
        int conflicts = 0;
        byte[] lastObject = [];
        store.Scan([StoreKeys.PlacedKind], (k, v) =>
        {
            // Every object with a record, a malformed one included (its reads must find the record and fail). One
            // object's records are adjacent, so its name is decoded once.
            ReadOnlySpan<byte> objectKey = k[..^4];
            if (!objectKey.SequenceEqual(lastObject))
            {
                slots.NoteOwner(OwnerHash(StoreKeys.PgOf(k), StoreKeys.NameOf(k)));
                lastObject = objectKey.ToArray();
            }
            for (int i = 0; i < PlacedChunk.Blocks; i++)
            {
                long slot = PlacedChunk.EntryOf(v, v.Length, i, out _);
                if (slot == -2)
                {
                    break;
                }
                if (slot >= 0 && !slots.MarkUsed(slot, 1))
                {
                    conflicts++;
                }
            }
            return true;
        });
        return conflicts;
    }

    internal static bool Verify(ReadOnlySpan<byte> block) =>
        BinaryPrimitives.ReadUInt32LittleEndian(block) == Crc32C.Compute(block.Slice(4, BlockSize));
}
