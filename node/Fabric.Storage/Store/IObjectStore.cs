namespace Fabric.Storage.Store;

/// <summary>Visits one key/value pair of a scan; return false to stop.</summary>
public delegate bool StoreScanVisitor(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

/// <summary>
/// The ordered key/value store under an OSD (RocksDB on a node, memory in tests and the simulation).
/// </summary>
/// <remarks>
/// Contract: <see cref="Write"/> applies a batch atomically and makes it visible to reads at once; it
/// becomes durable later, in submission order, and <c>onDurable</c> runs once it is (on any thread,
/// possibly the store's own: it must not block;
/// the OSD host moves it to its own loop). A crash loses a suffix of the batches that were not yet
/// durable, never a middle one and never part of a batch. Keys compare as unsigned bytes.
/// </remarks>
public interface IObjectStore : IDisposable
{
    /// <summary>Copies the value into <paramref name="destination"/>; returns its length, or -1 when absent.
    /// When the value is longer than the destination nothing is copied and the length is returned.</summary>
    int Read(ReadOnlySpan<byte> key, Span<byte> destination);

    /// <summary>
    /// <see cref="Read"/> of a value that carries its own checksum, which the caller verifies (a block and
    /// its crc32c): the store may skip checks of its own, which would only verify the same bytes again.
    /// </summary>
    int ReadChecksummed(ReadOnlySpan<byte> key, Span<byte> destination);

    /// <summary>
    /// <see cref="ReadChecksummed"/> of many keys at once: the keys lie back to back in <paramref name="keys"/>
    /// (key i is <paramref name="keyLengths"/>[i] bytes) in ascending order; value i goes to slot i of
    /// <paramref name="values"/> (<paramref name="slotBytes"/> each) and <paramref name="valueLengths"/>[i] is its
    /// length, -1 when absent (a longer value than its slot is not copied).
    /// </summary>
    void ReadChecksummed(ReadOnlySpan<byte> keys, ReadOnlySpan<int> keyLengths, Span<byte> values, int slotBytes, Span<int> valueLengths);

    /// <summary><see cref="Read"/> of many keys at once, with the store's own checks (laid out as in the batched
    /// <see cref="ReadChecksummed(ReadOnlySpan{byte}, ReadOnlySpan{int}, Span{byte}, int, Span{int})"/>).</summary>
    void Read(ReadOnlySpan<byte> keys, ReadOnlySpan<int> keyLengths, Span<byte> values, int slotBytes, Span<int> valueLengths);

    byte[]? Get(ReadOnlySpan<byte> key);

    /// <summary>Visits every key starting with <paramref name="prefix"/> in key order.</summary>
    void Scan(ReadOnlySpan<byte> prefix, StoreScanVisitor visitor);

    /// <summary>Visits the keys starting with <paramref name="prefix"/> that are at or after <paramref name="from"/>, in key order.</summary>
    void Scan(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> from, StoreScanVisitor visitor);

    IStoreBatch CreateBatch();

    /// <summary>Applies <paramref name="batch"/> (visible to reads at once) and calls <paramref name="onDurable"/> once it is
    /// durable. The store owns the batch from then on (disposing it afterwards does nothing).</summary>
    void Write(IStoreBatch batch, Action? onDurable);

    /// <summary>
    /// For a store whose single writer drives durability (RocksDbObjectStore opened with writerSyncs): makes
    /// every batch written so far durable with one sync and runs their callbacks on the calling thread.
    /// False when nothing waited, or when the store syncs by itself (then this does nothing).
    /// </summary>
    bool SyncWritten();

    /// <summary>Batches written and not yet synced.</summary>
    int UnsyncedBatches { get; }

    /// <summary>How long the oldest unsynced batch has waited (zero when none waits).</summary>
    TimeSpan OldestUnsyncedAge { get; }

    /// <summary>Bytes of keys and values stored (approximate for RocksDB).</summary>
    long UsedBytes { get; }

    /// <summary>Capacity of the device under the store.</summary>
    long TotalBytes { get; }

    /// <summary>
    /// Whether the store has a slot file: 4 KiB slots outside the key/value store where large writes put their
    /// blocks once (<see cref="ObjectBlocks"/>), instead of through the write-ahead log and then again into
    /// the store's own files. Without one, every block is a value.
    /// </summary>
    bool HasSlots { get; }

    /// <summary>The free-space map of the slot file (null without one).</summary>
    SlotAllocator? Slots { get; }

    /// <summary>Whole blocks a write must cover to be placed in the slot file (<see cref="ObjectBlocks.PlacedWriteBlocks"/>
    /// on a node; the simulation lowers it so that its small objects take the placed path too).</summary>
    int PlacedWriteBlocks { get; }

    /// <summary>
    /// Writes whole blocks into slots <paramref name="first"/>.. (allocated from <see cref="Slots"/>): visible to
    /// <see cref="ReadSlots"/> at once, and durable before any batch written after this call is (the store syncs
    /// the slot file before its log). Slots are never overwritten while a durable record points at them: a
    /// block is rewritten into fresh slots and the old ones are freed with the batch that stops using them
    /// (<see cref="IStoreBatch.FreeSlots"/>), so a crash leaves either the old record and its data or the new.
    /// </summary>
    void WriteSlots(long first, ReadOnlySpan<byte> data);

    /// <summary>Reads whole slots into <paramref name="destination"/>; false when the slot file could not
    /// deliver them (a short read or an I/O error: the caller treats the blocks as bad).</summary>
    bool ReadSlots(long first, Span<byte> destination);
}

/// <summary>An atomic group of changes. Keys and values are copied on the call.</summary>
public interface IStoreBatch : IDisposable
{
    void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>Puts the value <paramref name="head"/> + <paramref name="tail"/> without joining them first
    /// (a block's checksum and its data straight from the message).</summary>
    void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail);

    void Delete(ReadOnlySpan<byte> key);

    /// <summary>Deletes every key in [start, end).</summary>
    void DeleteRange(ReadOnlySpan<byte> start, ReadOnlySpan<byte> end);

    /// <summary>Frees slots this batch stops using; they return to <see cref="IObjectStore.Slots"/> only once
    /// the batch is durable (until then a crash could bring back the records that point at them).</summary>
    void FreeSlots(long first, int count);

    int Count { get; }
}
