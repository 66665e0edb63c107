using System.Buffers;
using System.Buffers.Binary;
using Fabric.Storage.Store;

namespace Fabric.Storage.Tests;

/// <summary>
/// Large writes placed in the slot file (ObjectBlocks, 'P' records): the slot map, the hand-over between
/// placed and inline forms, frees that wait for durability, crashes, reopening RocksDB, and scrub and
/// recovery seeing the same object whichever form its blocks have.
/// </summary>
public class PlacedBlocksTests : IDisposable
{
    private const int Block = ObjectBlocks.BlockSize;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fabric-placed-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void The_slot_map_hands_out_contiguous_runs_reuses_freed_slots_and_refuses_double_frees()
    {
        var slots = new SlotAllocator();
        Assert.Equal(100, slots.Allocate(100, out long a));
        Assert.Equal(0, a);
        Assert.Equal(50, slots.Allocate(50, out long b));
        Assert.Equal(100, b);
        slots.Free(10, 20);
        Assert.Equal(130, slots.UsedSlots);
        // Next-fit: nothing is free from the cursor (150) to the end of the file, so the search wraps to the hole
        // before the file grows.
        Assert.Equal(10, slots.Allocate(10, out long c));
        Assert.Equal(10, c);
        Assert.Equal(10, slots.Allocate(20, out long d)); // what is left of the hole: shorter than asked
        Assert.Equal(20, d);
        Assert.Equal(5, slots.Allocate(5, out long e));
        Assert.Equal(150, e); // no hole left: the file grows
        // A fragmented map gives a shorter run than asked; the caller asks again for the rest.
        var fragmented = new SlotAllocator();
        Assert.Equal(64, fragmented.Allocate(64, out _));
        fragmented.Free(3, 5);
        Assert.True(fragmented.MarkUsed(64, 1));
        Assert.Equal(5, fragmented.Allocate(8, out long hole));
        Assert.Equal(3, hole);
        Assert.Equal(3, fragmented.Allocate(3, out long grown));
        Assert.Equal(65, grown);
        slots.Free(10, 20);
        Assert.Throws<InvalidOperationException>(() => slots.Free(10, 1)); // freed above, not in use
        Assert.Throws<InvalidOperationException>(() => slots.Free(5000, 1)); // never allocated
        Assert.False(slots.MarkUsed(0, 1)); // already in use: a second claim is reported
        slots.Clear();
        Assert.Equal(0, slots.UsedSlots);
        Assert.Equal(0, slots.EndSlot);
    }

    [Fact]
    public void A_large_write_is_placed_and_a_small_overwrite_moves_the_block_inline_freeing_its_slot_only_once_durable()
    {
        var store = new MemoryObjectStore(autoSync: false);
        byte[] data = Pattern(64 * Block, 1);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 0, data.Length, data, zero: false));
        Assert.Equal(64, CountPlaced(store));
        Assert.Equal(0, CountKeys(store, StoreKeys.DataKind));
        Assert.Equal(64, store.Slots!.UsedSlots);
        AssertReads(store, "o", data);

        // A one-block overwrite: the block becomes inline; its slot is still in use until the batch is durable,
        // because a crash before then would bring back the record that points at it.
        byte[] small = Pattern(Block, 2);
        IStoreBatch batch = store.CreateBatch();
        ObjectBlocks.AddWrite(store, batch, 1, "o", 5 * Block, Block, small, zero: false);
        store.Write(batch, null);
        small.CopyTo(data, 5 * Block);
        Assert.Equal(64, store.Slots.UsedSlots);
        AssertReads(store, "o", data);
        store.Sync();
        Assert.Equal(63, store.Slots.UsedSlots);
        Assert.Equal(63, CountPlaced(store));
        Assert.Equal(1, CountKeys(store, StoreKeys.DataKind));

        // A partial-block write into a placed block merges with the placed data.
        byte[] tail = Pattern(100, 3);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 9 * Block + 7, tail.Length, tail, zero: false));
        tail.CopyTo(data, 9 * Block + 7);
        AssertReads(store, "o", data);
        Assert.Equal(62, store.Slots.UsedSlots);

        // A large overwrite: fresh slots, the old ones freed, inline blocks under it deleted.
        byte[] again = Pattern(40 * Block, 4);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 2 * Block, again.Length, again, zero: false));
        again.CopyTo(data, 2 * Block);
        AssertReads(store, "o", data);
        Assert.Equal(0, CountKeys(store, StoreKeys.DataKind));
        Assert.Equal(64, store.Slots.UsedSlots);
        SnapshotModelTests.AssertSlotsMatchRecords(store);

        // Zeroing whole placed blocks makes holes and frees their slots; deleting the object frees the rest.
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 0, 8 * Block, default, zero: true));
        Array.Clear(data, 0, 8 * Block);
        AssertReads(store, "o", data);
        Assert.Equal(56, store.Slots.UsedSlots);
        Commit(store, b => ObjectBlocks.AddDelete(store, b, 1, "o"));
        Assert.Equal(0, store.Slots.UsedSlots);
        Assert.Equal(0, CountPlaced(store));
    }

    [Fact]
    public void A_rewrite_of_placed_blocks_puts_one_record_per_16_blocks_and_deletes_only_inline_values_that_may_exist()
    {
        var store = new MemoryObjectStore(autoSync: true);
        byte[] data = Pattern(64 * Block, 20);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 0, data.Length, data, zero: false));
        Assert.Equal(4, CountKeys(store, StoreKeys.PlacedKind)); // 64 blocks, 4 chunk records
        // A rewrite: 4 records, no delete of inline keys (the records say there are none).
        IStoreBatch rewrite = store.CreateBatch();
        ObjectBlocks.AddWrite(store, rewrite, 1, "o", 0, data.Length, data, zero: false);
        Assert.Equal(4, rewrite.Count);
        store.Write(rewrite, null);
        // One small write makes block 5 inline; the next rewrite deletes exactly that inline value.
        byte[] small = Pattern(Block, 21);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 5 * Block, Block, small, zero: false));
        Assert.Equal(1, CountKeys(store, StoreKeys.DataKind));
        IStoreBatch again = store.CreateBatch();
        ObjectBlocks.AddWrite(store, again, 1, "o", 0, data.Length, data, zero: false);
        Assert.Equal(5, again.Count);
        store.Write(again, null);
        Assert.Equal(0, CountKeys(store, StoreKeys.DataKind));
        AssertReads(store, "o", data);
        SnapshotModelTests.AssertSlotsMatchRecords(store);
    }

    [Fact]
    public void A_recovery_push_replaces_an_object_placing_its_long_runs_and_freeing_the_old_slots_once()
    {
        var source = new MemoryObjectStore(autoSync: true);
        byte[] data = Pattern(40 * Block, 23);
        Commit(source, b => ObjectBlocks.AddWrite(source, b, 1, "o", 0, data.Length, data, zero: false));
        byte[] small = Pattern(Block, 24);
        Commit(source, b => ObjectBlocks.AddWrite(source, b, 1, "o", 20 * Block, Block, small, zero: false));
        small.CopyTo(data, 20 * Block);
        // Block 45 alone (a short run): inline at the target.
        Commit(source, b => ObjectBlocks.AddWrite(source, b, 1, "o", 45 * Block, Block, small, zero: false));
        data = data.Concat(new byte[5 * Block]).Concat(small).ToArray();
        var blocks = new List<uint>();
        var pushed = new ArrayBufferWriter<byte>();
        Assert.True(ObjectBlocks.ReadAll(source, 1, "o", blocks, pushed));

        // The target holds an older placed copy (different slots): the push replaces it in one batch.
        var target = new MemoryObjectStore(autoSync: true);
        byte[] old = Pattern(64 * Block, 25);
        Commit(target, b => ObjectBlocks.AddWrite(target, b, 1, "o", 0, old.Length, old, zero: false));
        Commit(target, b => ObjectBlocks.AddReplace(target, b, 1, "o", new ObjectMeta(9, (ulong)data.Length), blocks, pushed.WrittenSpan));
        var back = new byte[64 * Block];
        Assert.Equal(BlockReadStatus.Ok, ObjectBlocks.Read(target, 1, "o", 0, back));
        Assert.True(back.AsSpan(0, data.Length).SequenceEqual(data));
        Assert.True(back.AsSpan(data.Length).IndexOfAnyExcept((byte)0) < 0); // the old copy's tail is gone
        Assert.Equal(40, CountPlaced(target)); // one run of 40 consecutive blocks (block 20 was inline at the source)
        Assert.Equal(1, CountKeys(target, StoreKeys.DataKind));
        SnapshotModelTests.AssertSlotsMatchRecords(target);
        Assert.Equal(ObjectFamily.Scrub(source, 1, "o", deep: true, out _).Digest, ObjectFamily.Scrub(target, 1, "o", deep: true, out _).Digest);
    }

    [Fact]
    public void Two_deletes_of_one_placed_object_in_one_batch_free_its_slots_once()
    {
        // The rollback of two divergent log entries of one object deletes it twice in one batch (simulation seed 312).
        var store = new MemoryObjectStore(autoSync: false);
        byte[] data = Pattern(32 * Block, 26);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 0, data.Length, data, zero: false));
        IStoreBatch batch = store.CreateBatch();
        ObjectBlocks.AddDelete(store, batch, 1, "o");
        ObjectBlocks.AddDelete(store, batch, 1, "o");
        Span<byte> prefix = stackalloc byte[16];
        ObjectBlocks.AddFreePlaced(store, batch, prefix[..StoreKeys.PgPrefix(prefix, StoreKeys.PlacedKind, 1)]);
        store.Write(batch, null);
        store.Sync();
        Assert.Equal(0, store.Slots!.UsedSlots);
        SnapshotModelTests.AssertSlotsMatchRecords(store);
    }

    [Fact]
    public void A_chunk_record_round_trips_and_a_malformed_one_is_refused()
    {
        var chunk = new PlacedChunk { MaybeInline = 0x00F0 };
        chunk.Place(0, 0xDEADBEEF, 12345);
        chunk.Place(15, 7, 1L << 40);
        byte[] bytes = new byte[chunk.EncodedLength];
        Assert.Equal(PlacedChunk.HeaderSize + 2 * PlacedChunk.EntrySize, chunk.Encode(bytes));
        var back = new PlacedChunk();
        Assert.True(PlacedChunk.TryDecode(bytes, back));
        Assert.Equal(chunk.Placed, back.Placed);
        Assert.Equal(0x00F0, back.MaybeInline);
        Assert.Equal(12345, back.Slot(0));
        Assert.Equal(0xDEADBEEF, back.Crc(0));
        Assert.Equal(1L << 40, back.Slot(15));
        Assert.False(PlacedChunk.TryDecode(bytes.AsSpan(0, bytes.Length - 1), new PlacedChunk())); // short
        Assert.False(PlacedChunk.TryDecode(bytes.AsSpan(0, 3), new PlacedChunk()));
        bytes[^1] = 0x80; // a negative slot
        Assert.False(PlacedChunk.TryDecode(bytes, new PlacedChunk()));
    }

    [Fact]
    public void A_malformed_record_fails_reads_of_its_blocks_instead_of_returning_zeros()
    {
        var store = new MemoryObjectStore(autoSync: true);
        byte[] data = Pattern(32 * Block, 22);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 0, data.Length, data, zero: false));
        Span<byte> key = stackalloc byte[64];
        int n = StoreKeys.Placed(key, 1, "o", 1);
        byte[] bad = key[..n].ToArray();
        Commit(store, b => b.Put(bad, [1, 2, 3, 4, 5]));
        Assert.Equal(BlockReadStatus.ChecksumMismatch, ObjectBlocks.Read(store, 1, "o", 16 * Block, new byte[Block]));
        Assert.Equal(BlockReadStatus.Ok, ObjectBlocks.Read(store, 1, "o", 0, new byte[16 * Block]));
        // After a restart (the map rebuilt from the records) too.
        Assert.Equal(0, ObjectBlocks.RebuildSlots(store));
        Assert.True(ObjectBlocks.MayHavePlaced(store, 1, "o"));
        Assert.Equal(BlockReadStatus.ChecksumMismatch, ObjectBlocks.Read(store, 1, "o", 16 * Block, new byte[Block]));
        Assert.NotEmpty(ObjectFamily.Scrub(store, 1, "o", deep: false, out _).BadBlocks);
    }

    [Fact]
    public void A_crash_before_an_overwrite_is_durable_leaves_the_old_data_readable_and_the_slot_map_rebuilt()
    {
        var store = new MemoryObjectStore(autoSync: false);
        byte[] small = Pattern(3 * Block, 4);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "inline", 0, small.Length, small, zero: false));
        Assert.False(ObjectBlocks.MayHavePlaced(store, 1, "inline"));
        byte[] old = Pattern(32 * Block, 5);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 0, old.Length, old, zero: false));
        Assert.True(ObjectBlocks.MayHavePlaced(store, 1, "o"));
        // Not synced: its new slots are written, its frees wait.
        IStoreBatch batch = store.CreateBatch();
        byte[] lost = Pattern(32 * Block, 6);
        ObjectBlocks.AddWrite(store, batch, 1, "o", 0, lost.Length, lost, zero: false);
        store.Write(batch, null);
        Assert.Equal(64, store.Slots!.UsedSlots);
        AssertReads(store, "o", lost);
        store.Crash();
        Assert.True(ObjectBlocks.MayHavePlaced(store, 1, "o"));
        Assert.False(ObjectBlocks.MayHavePlaced(store, 1, "inline"));
        AssertReads(store, "o", old);
        AssertReads(store, "inline", small);
        Assert.Equal(32, store.Slots.UsedSlots);
        SnapshotModelTests.AssertSlotsMatchRecords(store);
        // Writes after the crash never take the surviving object's slots.
        byte[] other = Pattern(32 * Block, 7);
        Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "p", 0, other.Length, other, zero: false));
        AssertReads(store, "o", old);
        AssertReads(store, "p", other);
        SnapshotModelTests.AssertSlotsMatchRecords(store);
    }

    [Fact]
    public async Task RocksDB_placed_blocks_survive_a_reopen_and_the_slot_map_is_rebuilt_from_the_records()
    {
        byte[] first = Pattern(300 * Block, 8);
        byte[] second = Pattern(20 * Block + 99, 9);
        byte[] model = new byte[320 * Block];
        using (RocksDbObjectStore store = RocksDbObjectStore.Open(_dir))
        {
            Assert.True(store.HasSlots);
            await CommitAsync(store, b => ObjectBlocks.AddWrite(store, b, 3, "vol.0", 0, first.Length, first, zero: false));
            await CommitAsync(store, b => ObjectBlocks.AddWrite(store, b, 3, "vol.0", 100 * Block + 5, second.Length, second, zero: false));
            first.CopyTo(model, 0);
            second.CopyTo(model, 100 * Block + 5);
            AssertReads(store, "vol.0", model, pg: 3);
        }
        using (RocksDbObjectStore store = RocksDbObjectStore.Open(_dir))
        {
            AssertReads(store, "vol.0", model, pg: 3);
            Assert.Equal(CountPlaced(store), store.Slots!.UsedSlots);
            // The set of objects that may own slots is rebuilt too; others skip the placed lookups.
            Assert.True(ObjectBlocks.MayHavePlaced(store, 3, "vol.0"));
            Assert.False(ObjectBlocks.MayHavePlaced(store, 3, "vol.1"));
            byte[] third = Pattern(64 * Block, 10);
            await CommitAsync(store, b => ObjectBlocks.AddWrite(store, b, 3, "vol.1", 0, third.Length, third, zero: false));
            AssertReads(store, "vol.0", model, pg: 3);
            AssertReads(store, "vol.1", third, pg: 3);
            var blocks = new List<uint>();
            var data = new ArrayBufferWriter<byte>();
            Assert.True(ObjectBlocks.ReadAll(store, 3, "vol.0", blocks, data));
            Assert.Equal(Enumerable.Range(0, 300).Select(i => (uint)i), blocks); // placed and inline blocks, in order
            Assert.True(data.WrittenSpan.SequenceEqual(model.AsSpan(0, 300 * Block)));
        }
    }

    [Fact]
    public void Scrub_digests_and_recovery_reads_agree_between_a_placed_and_an_inline_copy_of_the_same_object()
    {
        var placed = new MemoryObjectStore(autoSync: true, slots: true);
        var inline = new MemoryObjectStore(autoSync: true, slots: false);
        byte[] data = Pattern(50 * Block + 123, 11);
        foreach (MemoryObjectStore store in new[] { placed, inline })
        {
            Commit(store, b => ObjectBlocks.AddWrite(store, b, 1, "o", 0, data.Length, data, zero: false));
            Commit(store, b => ObjectBlocks.WriteMeta(b, 1, "o", new ObjectMeta(7, (ulong)data.Length)));
        }
        Assert.True(CountPlaced(placed) > 0);
        Assert.Equal(0, CountPlaced(inline));
        var a = ObjectFamily.Scrub(placed, 1, "o", deep: true, out _);
        var b = ObjectFamily.Scrub(inline, 1, "o", deep: true, out _);
        Assert.Equal(b.Digest, a.Digest);
        Assert.Equal(b.Blocks, a.Blocks);
        Assert.Empty(a.BadBlocks);
        var blocksA = new List<uint>();
        var blocksB = new List<uint>();
        var dataA = new ArrayBufferWriter<byte>();
        var dataB = new ArrayBufferWriter<byte>();
        Assert.True(ObjectBlocks.ReadAll(placed, 1, "o", blocksA, dataA));
        Assert.True(ObjectBlocks.ReadAll(inline, 1, "o", blocksB, dataB));
        Assert.Equal(blocksB, blocksA);
        Assert.True(dataA.WrittenSpan.SequenceEqual(dataB.WrittenSpan));

        // A flipped bit in a slot: deep scrub names the block, a read fails its checksum.
        Assert.True(placed.FlipRandomSlotBit(new Random(1)));
        var bad = ObjectFamily.Scrub(placed, 1, "o", deep: true, out _);
        Assert.Single(bad.BadBlocks);
        Assert.Contains("checksum mismatch", bad.BadBlocks[0]);
        Assert.Equal(BlockReadStatus.ChecksumMismatch, ObjectBlocks.Read(placed, 1, "o", 0, new byte[data.Length]));
    }

    private static void Commit(MemoryObjectStore store, Action<IStoreBatch> build)
    {
        IStoreBatch batch = store.CreateBatch();
        build(batch);
        store.Write(batch, null);
        store.Sync();
    }

    private static async Task CommitAsync(IObjectStore store, Action<IStoreBatch> build)
    {
        IStoreBatch batch = store.CreateBatch();
        build(batch);
        var durable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.Write(batch, () => durable.TrySetResult());
        await durable.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static void AssertReads(IObjectStore store, string name, byte[] expected, ulong pg = 1)
    {
        var back = new byte[expected.Length];
        Assert.Equal(BlockReadStatus.Ok, ObjectBlocks.Read(store, pg, name, 0, back));
        int same = back.AsSpan().CommonPrefixLength(expected);
        Assert.True(same == expected.Length, $"{name} differs from what was written at byte {same} (block {same / Block})");
        // Unaligned reads across the placed/inline boundaries too.
        var part = new byte[expected.Length - 4097];
        Assert.Equal(BlockReadStatus.Ok, ObjectBlocks.Read(store, pg, name, 4097, part));
        Assert.True(part.AsSpan().SequenceEqual(expected.AsSpan(4097)));
    }

    private static int CountPlaced(IObjectStore store)
    {
        int count = 0;
        Assert.Equal(0, ObjectBlocks.ScanPlaced(store, [StoreKeys.PlacedKind], (_, _, _, _) => count++));
        return count;
    }

    private static int CountKeys(IObjectStore store, byte kind)
    {
        int count = 0;
        store.Scan([kind], (_, _) =>
        {
            count++;
            return true;
        });
        return count;
    }

    private static byte[] Pattern(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}

public class PlacedWriteOptionTests
{
    [Theory]
    [InlineData("64", 16)]
    [InlineData("128", 32)]
    [InlineData("4", 1)]
    [InlineData("0", int.MaxValue)]
    public void The_placed_write_size_comes_from_the_environment_in_KiB(string text, int blocks)
    {
        Assert.Equal(blocks, Fabric.Storage.Osd.OsdOptions.FromEnvironment(name => name == "FABRIC_OSD_PLACED_WRITE_KIB" ? text : null).PlacedWriteBlocks);
    }

    [Theory]
    [InlineData("6")]
    [InlineData("-4")]
    [InlineData("64K")]
    public void A_bad_placed_write_size_is_an_error_naming_the_variable_and_the_fix(string text)
    {
        var e = Assert.Throws<FormatException>(() => Fabric.Storage.Osd.OsdOptions.FromEnvironment(name => name == "FABRIC_OSD_PLACED_WRITE_KIB" ? text : null));
        Assert.Contains("FABRIC_OSD_PLACED_WRITE_KIB", e.Message);
        Assert.Contains("multiple of 4", e.Message);
    }

    [Fact]
    public void Without_the_variable_the_default_applies()
    {
        Assert.Equal(ObjectBlocks.PlacedWriteBlocks, Fabric.Storage.Osd.OsdOptions.FromEnvironment(_ => null).PlacedWriteBlocks);
    }
}
