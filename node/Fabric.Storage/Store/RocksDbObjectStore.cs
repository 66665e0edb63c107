using System.Buffers.Binary;
using System.Diagnostics;
using Fabric.RocksDb;
using Microsoft.Win32.SafeHandles;

namespace Fabric.Storage.Store;

/// <summary>
/// The node's <see cref="IObjectStore"/>: one RocksDB database per OSD. Batches are applied at once
/// (visible to the next read) and made durable by a group commit: one journal record + fdatasync (with a
/// <see cref="StoreJournal"/>, what nodes use; RocksDB's WAL is then off) or one FlushWAL + fdatasync (WAL with
/// manual flush, as Fabric.RocksDb's DurableWriter does) covers every batch applied before it, and then the
/// batches' callbacks run, in order, on the thread that synced. Who syncs is chosen at open:
/// <list type="bullet">
/// <item>the store's own flusher thread (the default), which syncs as soon as a batch waits;</item>
/// <item>or the single writer itself (<c>writerSyncs</c>, what the OSD uses): it calls <see cref="SyncWritten"/>
/// when it has nothing else to do, or when enough batches wait. Measured on this 2-vCPU paravirtualized
/// machine, every hand-off between threads costs a wake-up and a context switch (about 31 per replicated
/// 4 KiB write across the nodes); syncing on the OSD's own loop saves the flusher's wake-up and the
/// callbacks' trip back to the loop, and groups the batches of one burst into one sync. A/B, 3 nodes,
/// `fabric volume bench` 4 KiB random writes: QD1 +19-25 % IOPS, QD16 +26-36 %.</item>
/// </list>
/// The callbacks must not block (the OSD's only post to its event loop or run on it). Block data is
/// random-looking, so compression is off. Block values go to RocksDB's blob files (integrated BlobDB):
/// compactions then move only keys and metadata, which cut their CPU cost under random overwrites about
/// fivefold here (bench: dataservices store benches, RESULTS).
/// <para>Large writes bypass RocksDB for their data: a slot file (<c>slots</c> in the store's directory) holds
/// 4 KiB blocks written once with pwrite, and RocksDB keeps only a 12-byte record per block (see
/// <see cref="ObjectBlocks"/>). A sync then fdatasyncs the slot file before the WAL, so no durable record ever
/// points at data that is not. Measured (bench/RESULTS.md): a block value goes through RocksDB's WAL, its
/// memtable, a blob file at flush and blob GC later, with a software crc32c on most of those passes.</para>
/// </summary>
public sealed class RocksDbObjectStore : IObjectStore
{
    private readonly RocksDatabase _db;
    private readonly ColumnFamily _cf;
    private readonly string _path;
    private readonly object _flushLock = new();
    private readonly Thread? _flusher;
    private List<(RocksBatch Batch, Action? OnDurable)> _waiting = new();
    private List<(RocksBatch Batch, Action? OnDurable)> _flushing = new();
    private long _oldestWaitingTimestamp;
    private bool _stopping;
    private int _disposed;
    private readonly SafeFileHandle? _slotFile;
    private int _slotsDirty;
    // With a journal (the OSD's): batches are applied without RocksDB's WAL and made durable in _journal. Every
    // batch applied is in the journal or in an SST file by the time it is acknowledged. A cut switches the
    // memtable (StartFlush) with the 'J' key naming the journal's head: once that flush is done, records before
    // the head are in SST files and the journal's tail moves there.
    private readonly StoreJournal? _journal;
    private readonly object _applyLock = new();
    private long _pendingCut = -1;
    private long _bytesSinceCut;

    /// <summary>A cut starts when the journal is half full or this much was applied since the last one: the
    /// memtable (64 MiB; its skiplist adds up to about half again for small values) then never fills up by itself,
    /// whose flush could put batches in SST files before their journal record is durable (and before the slot data
    /// they name). Every cut is a memtable flush: fewer, larger ones cost RocksDB less compaction.</summary>
    private const long CutAfterBytes = 32L << 20;

    private RocksDbObjectStore(string path, RocksDatabase db, bool writerSyncs, bool slotFile, StoreJournal? journal)
    {
        _path = path;
        _db = db;
        _cf = db.DefaultColumnFamily;
        _journal = journal;
        if (slotFile)
        {
            _slotFile = File.OpenHandle(Path.Combine(path, "slots"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
            Slots = new SlotAllocator();
            ObjectBlocks.RebuildSlots(this);
        }
        if (!writerSyncs)
        {
            _flusher = new Thread(FlushLoop) { IsBackground = true, Name = "osd-wal-flush" };
            _flusher.Start();
        }
    }

    /// <summary>Frees of slots that were not in use (should stay 0; see <see cref="SyncAndComplete"/>).</summary>
    public long SlotFreeErrors { get; private set; }

    /// <summary>Syncs that failed (their batches are never acknowledged) and the last one's error: the host logs them.</summary>
    public long SyncFailures { get; private set; }

    public Exception? LastSyncFailure { get; private set; }

    /// <summary>WAL syncs made so far (each covers every batch written before it started).</summary>
    public long FlushCount { get; private set; }

    /// <summary>Memtable flushes that moved the journal's tail (cuts), and those that had to block because the
    /// journal had no room (should stay rare: a cut starts at half full).</summary>
    public long JournalCuts { get; private set; }

    public long JournalFullFlushes { get; private set; }

    /// <summary>The journal's capacity and live bytes, or 0 without one.</summary>
    public long JournalSize => _journal?.Size ?? 0;

    public long JournalUsedBytes => _journal?.UsedBytes ?? 0;

    /// <summary>Waits (bounded) until RocksDB runs no flush or compaction: the files on disk are then what a
    /// crash of the process would leave (tests copy them).</summary>
    internal void WaitForQuietFiles()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((_db.GetIntProperty("rocksdb.num-running-flushes") ?? 0) + (_db.GetIntProperty("rocksdb.num-running-compactions") ?? 0)
               + _db.ImmutableMemtables != 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("RocksDB's background work did not finish within 30 s");
            }
            Thread.Sleep(5);
        }
    }

    /// <summary>The default journal size of a node's store (<c>FABRIC_OSD_JOURNAL_MIB</c>).</summary>
    public const long DefaultJournalBytes = 64L << 20;

    /// <summary>Opens (or creates) the store in <paramref name="path"/>, creating parent directories. With
    /// <paramref name="writerSyncs"/> there is no flusher thread: batches become durable only when the writer
    /// calls <see cref="SyncWritten"/>.
    /// <paramref name="slotFile"/> adds the slot file for large writes (<see cref="IObjectStore.HasSlots"/>), which
    /// writes of at least <paramref name="placedWriteBlocks"/> whole blocks use.
    /// <para><paramref name="journalBytes"/> &gt; 0 makes batches durable in a journal of that size (<see cref="StoreJournal"/>)
    /// instead of RocksDB's WAL. A journal left by an earlier open is replayed either way (and removed when
    /// <paramref name="journalBytes"/> is 0).</para></summary>
    public static RocksDbObjectStore Open(string path, long blockCacheBytes = 128L << 20, bool blobFiles = true, bool writerSyncs = false, bool slotFile = true,
        int placedWriteBlocks = ObjectBlocks.PlacedWriteBlocks, long journalBytes = 0)
    {
        Directory.CreateDirectory(path);
        var options = new RocksDbOptions
        {
            ManualWalFlush = true,
            Compression = RocksDbCompression.None,
            BlockCacheSizeBytes = blockCacheBytes,
            WriteBufferSizeBytes = 64L << 20,
            LogLevel = RocksDbLogLevel.Warn,
            // One writer (the OSD's event loop): the plain skiplist insert is cheaper than the concurrent one.
            AllowConcurrentMemtableWrite = false,
            MinBlobSizeBytes = blobFiles ? ObjectBlocks.BlockValueSize : 0,
        };
        RocksDatabase db = RocksDatabase.Open(path, options);
        StoreJournal? journal = null;
        try
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(placedWriteBlocks, 1);
            ArgumentOutOfRangeException.ThrowIfNegative(journalBytes);
            journal = OpenJournal(path, db, journalBytes);
            return new RocksDbObjectStore(path, db, writerSyncs, slotFile, journal) { PlacedWriteBlocks = placedWriteBlocks };
        }
        catch
        {
            journal?.Dispose();
            db.Dispose();
            throw;
        }
    }

    private static readonly byte[] JournalStartKey = [StoreKeys.JournalKind];

    /// <summary>Replays the journal (if there is one) from the position the 'J' key names, puts everything in SST
    /// files, and returns the journal, empty, to write on (null when <paramref name="journalBytes"/> is 0: then the
    /// journal file is gone and RocksDB's WAL is used). A journal the 'J' key says is in use but whose file is
    /// missing is an error: the batches since the last cut would be lost without a word.</summary>
    private static StoreJournal? OpenJournal(string path, RocksDatabase db, long journalBytes)
    {
        string file = Path.Combine(path, "journal");
        bool exists = File.Exists(file);
        (long position, ulong sequence, bool inUse) = ReadJournalStart(db);
        if (!exists && inUse)
        {
            throw new InvalidDataException($"the store's journal {file} is missing, but the store was writing to it: the writes made since " +
                $"its last flush are lost on this OSD. Put the file back, or remove {path} so that the OSD is rebuilt from its replicas.");
        }
        if (journalBytes == 0 && !exists)
        {
            return null;
        }
        var journal = StoreJournal.Open(file, Math.Max(journalBytes, StoreJournal.MinimumSize));
        try
        {
            int records = journal.Replay(position, sequence, data =>
            {
                using var batch = WriteBatch.FromData(db, data);
                db.WriteWithoutWal(batch);
            });
            bool on = journalBytes > 0;
            if (records > 0 || on != inUse)
            {
                // Everything replayed into SST files: the journal starts empty at its head (or is no longer used).
                WriteJournalStart(db, journal.Head, journal.NextSequence, on);
                db.Flush();
            }
            journal.MoveTail(journal.Head);
            if (!on)
            {
                journal.Dispose();
                File.Delete(file);
                return null;
            }
            return journal;
        }
        catch
        {
            journal.Dispose();
            throw;
        }
    }

    /// <summary>The 'J' key: where the replay starts, and whether the journal is in use (a 16-byte value, from before
    /// the flag, is in use). Absent: a store that never used one.</summary>
    private static (long Position, ulong Sequence, bool InUse) ReadJournalStart(RocksDatabase db)
    {
        byte[]? value = db.Get(JournalStartKey);
        if (value is null)
        {
            return (0, 0, false);
        }
        if (value.Length is not (16 or 17))
        {
            throw new InvalidDataException($"the store's journal start record is {value.Length} bytes, not 17: the store is damaged");
        }
        return (BinaryPrimitives.ReadInt64LittleEndian(value), BinaryPrimitives.ReadUInt64LittleEndian(value.AsSpan(8)), value.Length == 16 || value[16] != 0);
    }

    /// <summary>Puts the 'J' key (into the memtable; durable with the next flush).</summary>
    private static void WriteJournalStart(RocksDatabase db, long position, ulong sequence, bool inUse = true)
    {
        Span<byte> value = stackalloc byte[17];
        BinaryPrimitives.WriteInt64LittleEndian(value, position);
        BinaryPrimitives.WriteUInt64LittleEndian(value[8..], sequence);
        value[16] = inUse ? (byte)1 : (byte)0;
        using var batch = new WriteBatch();
        batch.Put(db.DefaultColumnFamily, JournalStartKey, value);
        db.WriteWithoutWal(batch);
    }

    public bool HasSlots => _slotFile is not null;

    public SlotAllocator? Slots { get; }

    public int PlacedWriteBlocks { get; private init; } = ObjectBlocks.PlacedWriteBlocks;

    public void WriteSlots(long first, ReadOnlySpan<byte> data)
    {
        if (_slotFile is null || data.Length % ObjectBlocks.BlockSize != 0)
        {
            throw new InvalidOperationException("slot writes need a slot file and whole blocks");
        }
        RandomAccess.Write(_slotFile, data, first * ObjectBlocks.BlockSize);
        // Set after the write: the sync that takes the batch written next sees it and syncs the file first.
        Volatile.Write(ref _slotsDirty, 1);
    }

    public bool ReadSlots(long first, Span<byte> destination)
    {
        if (_slotFile is null)
        {
            return false;
        }
        try
        {
            int done = 0;
            while (done < destination.Length)
            {
                int n = RandomAccess.Read(_slotFile, destination[done..], first * ObjectBlocks.BlockSize + done);
                if (n <= 0)
                {
                    return false;
                }
                done += n;
            }
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public long UsedBytes
    {
        get
        {
            ulong sst = _db.GetIntProperty("rocksdb.total-sst-files-size") ?? 0;
            ulong blobs = _db.GetIntProperty("rocksdb.total-blob-file-size") ?? 0;
            ulong mem = _db.GetIntProperty("rocksdb.cur-size-all-mem-tables") ?? 0;
            return (long)(sst + blobs + mem) + (Slots?.UsedSlots ?? 0) * ObjectBlocks.BlockSize;
        }
    }

    public long TotalBytes
    {
        get
        {
            try
            {
                return new DriveInfo(Path.GetFullPath(_path)).TotalSize;
            }
            catch (Exception)
            {
                return 0;
            }
        }
    }

    public int Read(ReadOnlySpan<byte> key, Span<byte> destination)
    {
        GetStatus status = _db.Get(_cf, key, destination, out int length);
        return status == GetStatus.NotFound ? -1 : length;
    }

    public int ReadChecksummed(ReadOnlySpan<byte> key, Span<byte> destination)
    {
        // RocksDB's own checksum of a blob value is a software crc32c in Debian's portable build; the
        // block's stored crc32c, checked by the caller in hardware, covers the same bytes.
        GetStatus status = _db.Get(_cf, key, destination, out int length, verifyChecksums: false);
        return status == GetStatus.NotFound ? -1 : length;
    }

    public void ReadChecksummed(ReadOnlySpan<byte> keys, ReadOnlySpan<int> keyLengths, Span<byte> values, int slotBytes, Span<int> valueLengths) =>
        _db.MultiGet(_cf, keys, keyLengths, values, slotBytes, valueLengths, verifyChecksums: false);

    public void Read(ReadOnlySpan<byte> keys, ReadOnlySpan<int> keyLengths, Span<byte> values, int slotBytes, Span<int> valueLengths) =>
        _db.MultiGet(_cf, keys, keyLengths, values, slotBytes, valueLengths, verifyChecksums: true);

    public byte[]? Get(ReadOnlySpan<byte> key) => _db.Get(_cf, key);

    public void Scan(ReadOnlySpan<byte> prefix, StoreScanVisitor visitor) => Scan(prefix, prefix, visitor);

    public void Scan(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> from, StoreScanVisitor visitor)
    {
        using RocksDbIterator iterator = _db.NewPrefixIterator(_cf, prefix);
        for (iterator.Seek(from.SequenceCompareTo(prefix) > 0 ? from : prefix); iterator.Valid; iterator.Next())
        {
            if (!visitor(iterator.Key, iterator.Value))
            {
                break;
            }
        }
        iterator.ThrowIfError();
    }

    public IStoreBatch CreateBatch() => new RocksBatch(_cf);

    public void Write(IStoreBatch batch, Action? onDurable)
    {
        var rocks = (RocksBatch)batch;
        // Applied now (memtable, and RocksDB's WAL buffer without a journal): visible to the next read. Queued
        // only after, so the sync that takes it starts after it was applied and makes it durable. A cut (which
        // holds the apply lock) therefore sees every batch applied before it either synced or queued.
        rocks.Queued = true; // the store disposes it once durable (the journal reads its bytes at the sync)
        lock (_applyLock)
        {
            if (_journal is not null)
            {
                _db.WriteWithoutWal(rocks.Batch);
            }
            else
            {
                _db.Write(rocks.Batch, sync: false);
            }
            lock (_flushLock)
            {
                if (_waiting.Count == 0)
                {
                    _oldestWaitingTimestamp = Stopwatch.GetTimestamp();
                }
                _waiting.Add((rocks, onDurable));
                if (_flusher is not null)
                {
                    Monitor.Pulse(_flushLock);
                }
            }
        }
    }

    public int UnsyncedBatches
    {
        get
        {
            lock (_flushLock)
            {
                return _waiting.Count;
            }
        }
    }

    public TimeSpan OldestUnsyncedAge
    {
        get
        {
            lock (_flushLock)
            {
                return _waiting.Count == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_oldestWaitingTimestamp);
            }
        }
    }

    public bool SyncWritten()
    {
        if (_flusher is not null)
        {
            return false; // The flusher thread syncs by itself.
        }
        lock (_flushLock)
        {
            if (_waiting.Count == 0)
            {
                return false;
            }
            (_waiting, _flushing) = (_flushing, _waiting);
        }
        SyncAndComplete(_flushing);
        return true;
    }

    public void Dispose()
    {
        if (Thread.CurrentThread == _flusher)
        {
            // A durability callback that disposes the store would wait for its own thread forever.
            throw new InvalidOperationException("the object store cannot be disposed from one of its durability callbacks (they run on its flusher thread)");
        }
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        lock (_flushLock)
        {
            _stopping = true;
            Monitor.Pulse(_flushLock);
        }
        _flusher?.Join();
        if (_journal is not null)
        {
            // Closing flushes the memtable (RocksDB does so when writes skipped its WAL): slot data first.
            SyncSlotFile();
        }
        _db.Dispose();
        _journal?.Dispose();
        _slotFile?.Dispose();
    }

    private void FlushLoop()
    {
        while (true)
        {
            lock (_flushLock)
            {
                while (_waiting.Count == 0 && !_stopping)
                {
                    Monitor.Wait(_flushLock);
                }
                if (_waiting.Count == 0)
                {
                    return; // Stopping, and every write was made durable (or failed).
                }
                (_waiting, _flushing) = (_flushing, _waiting);
            }
            SyncAndComplete(_flushing);
        }
    }

    /// <summary>One WAL sync for every batch in <paramref name="batches"/> (all applied before it started), then
    /// their callbacks in order; empties the list. Only ever runs on one thread at a time (the flusher, or
    /// the single writer).</summary>
    private void SyncAndComplete(List<(RocksBatch Batch, Action? OnDurable)> batches)
    {
        bool durable;
        try
        {
            // Slot data before the records that point at it.
            SyncSlotFile();
            if (_journal is null)
            {
                _db.FlushWal(sync: true);
            }
            else
            {
                Journal(batches);
            }
            durable = true;
        }
        catch (Exception e)
        {
            SyncFailures++;
            LastSyncFailure = e;
            // A failed WAL sync: these writes' durability is unknown, so they are never acknowledged.
            durable = false;
        }
        FlushCount++;
        foreach ((RocksBatch batch, Action? onDurable) in batches)
        {
            batch.Free();
            if (durable)
            {
                try
                {
                    batch.ReleaseSlots(Slots);
                }
                catch (InvalidOperationException)
                {
                    // A slot freed that was not in use: the records and the map disagree (a bug the simulation would
                    // catch; it throws there). The node goes on; the map is rebuilt from the records at the next start.
                    SlotFreeErrors++;
                }
                onDurable?.Invoke();
            }
        }
        batches.Clear();
    }

    private void SyncSlotFile()
    {
        if (_slotFile is not null && Interlocked.Exchange(ref _slotsDirty, 0) != 0)
        {
            FileSync.Data(_slotFile, "the slot file");
        }
    }

    /// <summary>Makes <paramref name="batches"/> (applied, slot data synced) durable: one journal record and one
    /// fdatasync; or, when the journal has no room even after the cut in progress, a blocking memtable flush.
    /// Then finishes a cut whose flush is done, or starts one.</summary>
    private void Journal(List<(RocksBatch Batch, Action? OnDurable)> batches)
    {
        StoreJournal journal = _journal!;
        foreach ((RocksBatch batch, _) in batches)
        {
            ReadOnlySpan<byte> data = batch.Batch.Data;
            journal.Add(data);
            _bytesSinceCut += data.Length;
        }
        bool written = journal.TryWritePending() || (WaitForCut() && journal.TryWritePending());
        if (written)
        {
            journal.Sync();
        }
        else
        {
            // No room (a record larger than the journal's free half, or flushes slower than writes): the
            // batches become durable in SST files instead.
            journal.DiscardPending();
            Cut(wait: true);
            JournalFullFlushes++;
        }
        TryFinishCut();
        if (_pendingCut < 0 && (journal.UsedBytes > journal.Size / 2 || _bytesSinceCut > CutAfterBytes))
        {
            Cut(wait: false);
            JournalCuts++;
        }
    }

    /// <summary>
    /// Switches the memtable with the 'J' key naming the journal's head, so that once its flush is done every
    /// record before the head is in SST files. Under the apply lock, after a slot sync: batches applied but not yet
    /// journaled (another thread's, without writerSyncs) go into the flush too, their slot data durable first.
    /// <paramref name="wait"/>: flush now (blocking) and empty the journal; else the flush runs in the background
    /// and <see cref="TryFinishCut"/> moves the tail when it is done.
    /// </summary>
    private void Cut(bool wait)
    {
        lock (_applyLock)
        {
            SyncSlotFile();
            WriteJournalStart(_db, _journal!.Head, _journal.NextSequence);
            _bytesSinceCut = 0;
            if (wait)
            {
                _db.Flush();
                _journal.MoveTail(_journal.Head);
                _pendingCut = -1;
            }
            else
            {
                _db.StartFlush();
                _pendingCut = _journal.Head;
            }
        }
    }

    /// <summary>The cut in progress is done when no switched-out memtable waits for its flush: the tail moves to it.</summary>
    private bool TryFinishCut()
    {
        if (_pendingCut < 0 || _db.ImmutableMemtables != 0)
        {
            return false;
        }
        _journal!.MoveTail(_pendingCut);
        _pendingCut = -1;
        return true;
    }

    /// <summary>Waits (bounded) for the cut in progress; true when it moved the tail.</summary>
    private bool WaitForCut()
    {
        var waited = Stopwatch.StartNew();
        while (_pendingCut >= 0 && waited.Elapsed <= TimeSpan.FromSeconds(30))
        {
            if (TryFinishCut())
            {
                return true;
            }
            Thread.Sleep(1);
        }
        return false;
    }

    private sealed class RocksBatch(ColumnFamily cf) : IStoreBatch
    {
        private PendingSlotFrees _frees;

        public WriteBatch Batch { get; } = new();

        public void FreeSlots(long first, int count) => _frees.Add(first, count);

        /// <summary>The batch is durable: its freed slots may be handed out again.</summary>
        public void ReleaseSlots(SlotAllocator? slots) => _frees.Release(slots);

        public int Count => Batch.Count;

        public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Batch.Put(cf, key, value);

        public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail) => Batch.Put(cf, key, head, tail);

        public void Delete(ReadOnlySpan<byte> key) => Batch.Delete(cf, key);

        public void DeleteRange(ReadOnlySpan<byte> start, ReadOnlySpan<byte> end) => Batch.DeleteRange(cf, start, end);

        /// <summary>Written: the store owns it from then on, and a caller's Dispose leaves it alone.</summary>
        public bool Queued { get; set; }

        public void Dispose()
        {
            if (!Queued)
            {
                Batch.Dispose();
            }
        }

        public void Free() => Batch.Dispose();
    }
}
