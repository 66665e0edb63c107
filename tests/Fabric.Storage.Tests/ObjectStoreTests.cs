using System.Text;
using Fabric.Storage.Store;

namespace Fabric.Storage.Tests;

/// <summary>The IObjectStore contract, for both implementations, plus RocksDB durability across reopen.</summary>
public class ObjectStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fabric-store-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    public static IEnumerable<object[]> Kinds() => [["memory"], ["rocksdb"]];

    private IObjectStore Open(string kind) => kind == "memory" ? new MemoryObjectStore(autoSync: true) : RocksDbObjectStore.Open(_dir);

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Batches_are_atomic_visible_at_once_and_durable_later(string kind)
    {
        using IObjectStore store = Open(kind);
        IStoreBatch batch = store.CreateBatch();
        batch.Put(K("a1"), K("one"));
        batch.Put(K("a2"), K("two"));
        batch.Put(K("b1"), K("three"));
        var durable = new TaskCompletionSource();
        store.Write(batch, () => durable.SetResult());
        Assert.Equal("one", Encoding.UTF8.GetString(store.Get(K("a1"))!));
        await durable.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var seen = new List<string>();
        store.Scan(K("a"), (key, value) =>
        {
            seen.Add(Encoding.UTF8.GetString(key) + "=" + Encoding.UTF8.GetString(value));
            return true;
        });
        Assert.Equal(["a1=one", "a2=two"], seen);
        Span<byte> small = stackalloc byte[2];
        Assert.Equal(3, store.Read(K("a1"), small)); // too small: length only
        Assert.Equal(-1, store.Read(K("zz"), small));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Delete_range_removes_exactly_the_range(string kind)
    {
        using IObjectStore store = Open(kind);
        IStoreBatch batch = store.CreateBatch();
        foreach (string k in new[] { "p0", "p1", "p2", "q0" })
        {
            batch.Put(K(k), K(k));
        }
        batch.DeleteRange(K("p1"), StoreKeys.PrefixEnd(K("p")));
        var done = new TaskCompletionSource();
        store.Write(batch, () => done.SetResult());
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(store.Get(K("p0")));
        Assert.Null(store.Get(K("p1")));
        Assert.Null(store.Get(K("p2")));
        Assert.NotNull(store.Get(K("q0")));
    }

    [Fact]
    public async Task RocksDb_keeps_durable_writes_across_reopen()
    {
        using (RocksDbObjectStore store = RocksDbObjectStore.Open(_dir))
        {
            IStoreBatch batch = store.CreateBatch();
            ObjectBlocks.AddWrite(store, batch, 7, "obj", 100, 5000, Encoding.ASCII.GetBytes(new string('x', 5000)), zero: false);
            ObjectBlocks.WriteMeta(batch, 7, "obj", new ObjectMeta(42, 5100));
            var done = new TaskCompletionSource();
            store.Write(batch, () => done.SetResult());
            await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        using (RocksDbObjectStore store = RocksDbObjectStore.Open(_dir))
        {
            Assert.Equal(new ObjectMeta(42, 5100), ObjectBlocks.ReadMeta(store, 7, "obj"));
            byte[] back = new byte[5100];
            Assert.Equal(BlockReadStatus.Ok, ObjectBlocks.Read(store, 7, "obj", 0, back));
            Assert.True(back.AsSpan(0, 100).IndexOfAnyExcept((byte)0) < 0);
            Assert.True(back.AsSpan(100).IndexOfAnyExcept((byte)'x') < 0);
        }
    }

    [Fact]
    public void A_flipped_bit_is_reported_as_a_checksum_mismatch()
    {
        var store = new MemoryObjectStore(autoSync: true);
        IStoreBatch batch = store.CreateBatch();
        ObjectBlocks.AddWrite(store, batch, 1, "o", 0, 8192, new byte[8192].Select((_, i) => (byte)i).ToArray(), zero: false);
        store.Write(batch, null);
        Assert.True(store.FlipRandomBit(new Random(3), [StoreKeys.DataKind]));
        Assert.Equal(BlockReadStatus.ChecksumMismatch, ObjectBlocks.Read(store, 1, "o", 0, new byte[8192]));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Block_reads_of_any_range_match_a_model_across_holes_partial_blocks_and_batch_boundaries(string kind)
    {
        // An object of 300 blocks (more than two read batches) with holes and partial-block writes; every read,
        // single block or long range, unaligned at either end, returns what a plain byte array says.
        using IObjectStore store = Open(kind);
        const int size = 300 * ObjectBlocks.BlockSize;
        var model = new byte[size];
        var random = new Random(42);
        for (int i = 0; i < 60; i++)
        {
            int offset = random.Next(size - 1);
            int length = Math.Min(size - offset, random.Next(1, 20 * ObjectBlocks.BlockSize));
            if (random.Next(4) == 0 && offset > 150 * ObjectBlocks.BlockSize)
            {
                continue; // leave the far end mostly holes
            }
            var data = new byte[length];
            random.NextBytes(data);
            data.CopyTo(model, offset);
            IStoreBatch batch = store.CreateBatch();
            Assert.True(ObjectBlocks.AddWrite(store, batch, 7, "obj", (ulong)offset, length, data, zero: false));
            // Asynchronous continuations: the rest of the test must not run on the store's flusher thread.
            var durable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            store.Write(batch, () => durable.TrySetResult());
            await durable.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        (int Offset, int Length)[] ranges =
        [
            (0, size), (1, size - 2), (0, 1), (ObjectBlocks.BlockSize - 1, 2), (5 * ObjectBlocks.BlockSize, ObjectBlocks.BlockSize),
            (3, 128 * ObjectBlocks.BlockSize), (ObjectBlocks.BlockSize * 127 + 17, ObjectBlocks.BlockSize * 2), (size - 5, 5),
        ];
        foreach (var (offset, length) in ranges.Concat(Enumerable.Range(0, 40).Select(_ =>
                 {
                     int o = random.Next(size - 1);
                     return (o, random.Next(1, size - o));
                 })))
        {
            var back = new byte[length];
            Assert.Equal(BlockReadStatus.Ok, ObjectBlocks.Read(store, 7, "obj", (ulong)offset, back));
            Assert.True(back.AsSpan().SequenceEqual(model.AsSpan(offset, length)), $"{kind}: read of {length} bytes at {offset} differs from the model");
        }
        Assert.Equal(BlockReadStatus.Ok, ObjectBlocks.Read(store, 7, "obj", 0, Span<byte>.Empty));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_flipped_bit_deep_in_a_long_read_is_reported_as_a_checksum_mismatch(bool placed)
    {
        // A 200-block write is placed in the slot file when the store has one, inline otherwise.
        var store = new MemoryObjectStore(autoSync: true, slots: placed);
        IStoreBatch batch = store.CreateBatch();
        ObjectBlocks.AddWrite(store, batch, 1, "o", 0, 200 * ObjectBlocks.BlockSize, new byte[200 * ObjectBlocks.BlockSize], zero: false);
        store.Write(batch, null);
        Assert.True(placed ? store.FlipRandomSlotBit(new Random(5)) : store.FlipRandomBit(new Random(5), [StoreKeys.DataKind]));
        Assert.Equal(BlockReadStatus.ChecksumMismatch, ObjectBlocks.Read(store, 1, "o", 100, new byte[200 * ObjectBlocks.BlockSize - 100]));
    }

    [Fact]
    public void Memory_store_crash_loses_exactly_the_unsynced_batches()
    {
        var store = new MemoryObjectStore(autoSync: false);
        IStoreBatch first = store.CreateBatch();
        first.Put(K("k1"), K("v1"));
        bool firstDurable = false, secondDurable = false;
        store.Write(first, () => firstDurable = true);
        store.Sync();
        IStoreBatch second = store.CreateBatch();
        second.Put(K("k2"), K("v2"));
        store.Write(second, () => secondDurable = true);
        Assert.NotNull(store.Get(K("k2")));
        store.Crash();
        Assert.True(firstDurable);
        Assert.False(secondDurable);
        Assert.NotNull(store.Get(K("k1")));
        Assert.Null(store.Get(K("k2")));
    }

    private static byte[] K(string text) => Encoding.UTF8.GetBytes(text);
}
