// One open RocksDB database (librocksdb 7.8 through its C API) with all of its column families.
//
// Contract:
//   * Open creates the parent directories (RocksDB only creates the last one), lists the column
//     families the DB already has and opens all of them plus the requested ones.
//   * Every failure RocksDB reports surfaces as RocksDbException with RocksDB's own text and the
//     DB path. Absence of a key is a value (null / GetStatus.NotFound / false), not an error.
//   * Thread-safe: any number of threads may read and write concurrently (RocksDB's DB is), and
//     Dispose may race with them: calls in flight finish, later calls throw
//     ObjectDisposedException, and the native DB closes only after every handle that points into
//     it (column families, snapshots, iterators) has been destroyed.
//   * Dispose disposes the iterators and snapshots still open, then the column family handles,
//     then closes the DB; with ManualWalFlush it first flushes the WAL buffer to the OS, so a
//     clean close loses nothing.
//   * Write fence: after a write or FlushWal fails with an I/O error or corruption, this object
//     refuses every further write and FlushWal (RocksDbException with the first error's text) and
//     keeps serving reads; reopen the database to write again. Reason: Debian's librocksdb7.8 is
//     built with assertions on, and once the WAL file writer has seen an error, RocksDB's FlushWAL
//     appends to it again and trips assert(sync_without_flush_called_), aborting the whole process
//     (seen here on ENOSPC). Calls already inside RocksDB when the first error happens are not
//     fenced; RocksDB's own background error (ParanoidChecks on) stops its writes.
//   * Reads and writes take spans and do not allocate on the managed heap, except the byte[]
//     returning Get and MultiGet conveniences.
using System.Buffers;
using System.Runtime.InteropServices;
using Fabric.RocksDb.Native;

namespace Fabric.RocksDb;

public sealed unsafe class RocksDatabase : IDisposable
{
    /// <summary>The column family every RocksDB database has.</summary>
    public const string DefaultColumnFamilyName = "default";

    private readonly DbHandle _db;
    private readonly OptionsHandle _options;
    private readonly ReadOptionsHandle _readLatest;
    // Reads of values that carry their own checksum (an object store's blocks): RocksDB's own
    // verification (a software crc32c in Debian's portable build, ~20 % of a large read) is skipped.
    private readonly ReadOptionsHandle _readLatestUnverified;
    private readonly WriteOptionsHandle _writeNoSync;
    private readonly WriteOptionsHandle _writeSync;
    private readonly FlushOptionsHandle _flushWait;
    private readonly FlushOptionsHandle _flushNoWait;
    private readonly WriteOptionsHandle _writeNoWal;
    private readonly object _lock = new();
    private readonly Dictionary<string, ColumnFamily> _columnFamilies = new(StringComparer.Ordinal);
    private readonly HashSet<IDisposable> _openChildren = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;
    private RocksDbException? _writeFailure;

    private RocksDatabase(string path, RocksDbOptions options, OptionsHandle nativeOptions, DbHandle db)
    {
        Path = path;
        Options = options;
        _options = nativeOptions;
        _db = db;
        _readLatest = new ReadOptionsHandle(snapshot: null);
        _readLatestUnverified = new ReadOptionsHandle(snapshot: null, verifyChecksums: false);
        _writeNoSync = new WriteOptionsHandle(sync: false);
        _writeSync = new WriteOptionsHandle(sync: true);
        _flushWait = new FlushOptionsHandle(wait: true);
        _flushNoWait = new FlushOptionsHandle(wait: false);
        _writeNoWal = new WriteOptionsHandle(sync: false, disableWal: true);
    }

    /// <summary>The absolute path of the database directory.</summary>
    public string Path { get; }

    public RocksDbOptions Options { get; }

    public ColumnFamily DefaultColumnFamily => GetColumnFamily(DefaultColumnFamilyName);

    /// <summary>Names of the open column families.</summary>
    public IReadOnlyList<string> ColumnFamilyNames
    {
        get
        {
            lock (_lock) return [.. _columnFamilies.Keys];
        }
    }

    public bool IsDisposed => Volatile.Read(ref _disposed);

    /// <summary>The I/O error or corruption that stopped writes to this object, if one did.</summary>
    public RocksDbException? WriteFailure => Volatile.Read(ref _writeFailure);

    // ---- open ---------------------------------------------------------------------------------

    /// <summary>Opens (or creates) the database at <paramref name="path"/> with every column family
    /// it has plus <paramref name="columnFamilies"/>.</summary>
    public static RocksDatabase Open(string path, RocksDbOptions? options = null, IEnumerable<string>? columnFamilies = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new RocksDbOptions();
        string fullPath = System.IO.Path.GetFullPath(path);
        var nativeOptions = NativeOptions.Build(options);
        try
        {
            if (options.CreateIfMissing)
            {
                string? parent = System.IO.Path.GetDirectoryName(fullPath);
                if (parent is not null) Directory.CreateDirectory(parent);
            }

            var names = new List<string> { DefaultColumnFamilyName };
            if (File.Exists(System.IO.Path.Combine(fullPath, "CURRENT")))
            {
                foreach (var existing in ListColumnFamilies(nativeOptions, fullPath))
                {
                    if (!names.Contains(existing, StringComparer.Ordinal)) names.Add(existing);
                }
            }
            foreach (var requested in columnFamilies ?? [])
            {
                ValidateColumnFamilyName(requested);
                if (!names.Contains(requested, StringComparer.Ordinal)) names.Add(requested);
            }

            nint db = OpenNative(nativeOptions, fullPath, names, out nint[] handles);
            var dbHandle = new DbHandle(db);
            RocksDatabase database;
            try
            {
                database = new RocksDatabase(fullPath, options, nativeOptions, dbHandle);
            }
            catch
            {
                foreach (var h in handles) NativeMethods.rocksdb_column_family_handle_destroy(h);
                dbHandle.Dispose();
                throw;
            }
            for (int i = 0; i < names.Count; i++)
            {
                database._columnFamilies.Add(names[i], new ColumnFamily(database, names[i], new ColumnFamilyHandle(dbHandle, handles[i])));
            }
            return database;
        }
        catch
        {
            nativeOptions.Dispose();
            throw;
        }
    }

    /// <summary>Column families of an existing database, without opening it.</summary>
    public static IReadOnlyList<string> ListColumnFamilies(string path)
    {
        using var nativeOptions = NativeOptions.Build(new RocksDbOptions { CreateIfMissing = false });
        return ListColumnFamilies(nativeOptions, System.IO.Path.GetFullPath(path));
    }

    /// <summary>Deletes the database at <paramref name="path"/> (RocksDB's DestroyDB: its files,
    /// then the directory if empty). The database must not be open.</summary>
    public static void Destroy(string path)
    {
        string fullPath = System.IO.Path.GetFullPath(path);
        using var nativeOptions = NativeOptions.Build(new RocksDbOptions { CreateIfMissing = false });
        NativeMethods.rocksdb_destroy_db(nativeOptions, fullPath, out nint error);
        NativeError.ThrowIfError(error, fullPath);
    }

    private static List<string> ListColumnFamilies(OptionsHandle options, string fullPath)
    {
        nint* list = NativeMethods.rocksdb_list_column_families(options, fullPath, out nuint count, out nint error);
        NativeError.ThrowIfError(error, fullPath);
        try
        {
            var names = new List<string>((int)count);
            // SAFETY: on success RocksDB returns an array of `count` malloc()ed NUL-terminated
            // strings, which we read before freeing them with the matching destroy call.
            for (nuint i = 0; i < count; i++) names.Add(Marshal.PtrToStringUTF8(list[i]) ?? "");
            return names;
        }
        finally
        {
            NativeMethods.rocksdb_list_column_families_destroy(list, count);
        }
    }

    private static nint OpenNative(OptionsHandle options, string fullPath, List<string> names, out nint[] handles)
    {
        int count = names.Count;
        var namePointers = new nint[count];
        var optionPointers = new nint[count];
        handles = new nint[count];
        bool optionsReferenced = false;
        try
        {
            for (int i = 0; i < count; i++) namePointers[i] = Marshal.StringToCoTaskMemUTF8(names[i]);
            options.DangerousAddRef(ref optionsReferenced);
            Array.Fill(optionPointers, options.DangerousGetHandle());
            nint db;
            nint error;
            // SAFETY: the three arrays have `count` elements and are pinned for the call; the name
            // strings are live CoTaskMem allocations and the options pointer is kept alive by the
            // reference taken above. RocksDB writes exactly `count` handles into `h`.
            fixed (nint* n = namePointers)
            fixed (nint* o = optionPointers)
            fixed (nint* h = handles)
            {
                db = NativeMethods.rocksdb_open_column_families(options, fullPath, count, n, o, h, out error);
            }
            NativeError.ThrowIfError(error, fullPath);
            if (db == 0) throw new RocksDbException("rocksdb_open_column_families returned no database and no error", fullPath);
            return db;
        }
        finally
        {
            if (optionsReferenced) options.DangerousRelease();
            foreach (var p in namePointers) Marshal.FreeCoTaskMem(p);
        }
    }

    private static void ValidateColumnFamilyName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('\0')) throw new ArgumentException("column family names cannot contain NUL", nameof(name));
    }

    // ---- column families ----------------------------------------------------------------------

    public ColumnFamily GetColumnFamily(string name)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _columnFamilies.TryGetValue(name, out var cf)
                ? cf
                : throw new KeyNotFoundException($"column family '{name}' is not open in {Path}");
        }
    }

    public bool TryGetColumnFamily(string name, out ColumnFamily? columnFamily)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _columnFamilies.TryGetValue(name, out columnFamily);
        }
    }

    /// <summary>Creates a column family; it persists across reopen.</summary>
    public ColumnFamily CreateColumnFamily(string name)
    {
        ValidateColumnFamilyName(name);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_columnFamilies.ContainsKey(name)) throw new ArgumentException($"column family '{name}' already exists in {Path}", nameof(name));
            nint native = NativeMethods.rocksdb_create_column_family(_db, _options, name, out nint error);
            NativeError.ThrowIfError(error, Path);
            ColumnFamilyHandle handle;
            try
            {
                handle = new ColumnFamilyHandle(_db, native);
            }
            catch
            {
                NativeMethods.rocksdb_column_family_handle_destroy(native);
                throw;
            }
            var cf = new ColumnFamily(this, name, handle);
            _columnFamilies.Add(name, cf);
            return cf;
        }
    }

    /// <summary>Drops a column family and all its data; its ColumnFamily object stops working.</summary>
    public void DropColumnFamily(string name)
    {
        if (name == DefaultColumnFamilyName) throw new ArgumentException("the default column family cannot be dropped", nameof(name));
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_columnFamilies.TryGetValue(name, out var cf)) throw new KeyNotFoundException($"column family '{name}' is not open in {Path}");
            NativeMethods.rocksdb_drop_column_family(_db, cf.Handle, out nint error);
            NativeError.ThrowIfError(error, Path);
            _columnFamilies.Remove(name);
            cf.Handle.Dispose();
        }
    }

    // ---- writes -------------------------------------------------------------------------------

    public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool sync = false) => Put(DefaultColumnFamily, key, value, sync);

    /// <summary>Writes one key. With <paramref name="sync"/> the call returns after the WAL is on
    /// disk (blocks the thread: use dedicated threads or DurableWriter, never the thread pool).</summary>
    public void Put(ColumnFamily columnFamily, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool sync = false)
    {
        CheckOwned(columnFamily);
        ThrowIfWritesStopped();
        nint error;
        // SAFETY: key and value are pinned for the call; RocksDB copies them into its WAL buffer
        // and memtable before returning.
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            NativeMethods.rocksdb_put_cf(_db, WriteOptions(sync), columnFamily.Handle,
                NonNull.Bytes(k), (nuint)key.Length, NonNull.Bytes(v), (nuint)value.Length, out error);
        }
        CheckWriteResult(error, fenceAnyError: false);
    }

    public void Delete(ReadOnlySpan<byte> key, bool sync = false) => Delete(DefaultColumnFamily, key, sync);

    public void Delete(ColumnFamily columnFamily, ReadOnlySpan<byte> key, bool sync = false)
    {
        CheckOwned(columnFamily);
        ThrowIfWritesStopped();
        nint error;
        // SAFETY: the key is pinned for the call and copied by RocksDB.
        fixed (byte* k = key)
        {
            NativeMethods.rocksdb_delete_cf(_db, WriteOptions(sync), columnFamily.Handle, NonNull.Bytes(k), (nuint)key.Length, out error);
        }
        CheckWriteResult(error, fenceAnyError: false);
    }

    /// <summary>Deletes every key in [<paramref name="startKey"/>, <paramref name="endKey"/>) with one
    /// range tombstone.</summary>
    public void DeleteRange(ColumnFamily columnFamily, ReadOnlySpan<byte> startKey, ReadOnlySpan<byte> endKey, bool sync = false)
    {
        CheckOwned(columnFamily);
        ThrowIfWritesStopped();
        nint error;
        // SAFETY: both keys are pinned for the call and copied by RocksDB.
        fixed (byte* s = startKey)
        fixed (byte* e = endKey)
        {
            NativeMethods.rocksdb_delete_range_cf(_db, WriteOptions(sync), columnFamily.Handle,
                NonNull.Bytes(s), (nuint)startKey.Length, NonNull.Bytes(e), (nuint)endKey.Length, out error);
        }
        CheckWriteResult(error, fenceAnyError: false);
    }

    /// <summary>Applies a batch atomically. See Put for what <paramref name="sync"/> costs.</summary>
    public void Write(WriteBatch batch, bool sync = false)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (batch.Database is not null && !ReferenceEquals(batch.Database, this))
            throw new ArgumentException($"the batch writes to {batch.Database.Path}, not {Path}", nameof(batch));
        ThrowIfWritesStopped();
        NativeMethods.rocksdb_write(_db, WriteOptions(sync), batch.Handle, out nint error);
        CheckWriteResult(error, fenceAnyError: false);
    }

    /// <summary>Applies a batch atomically without RocksDB's WAL: it lives only in the memtable until a flush
    /// writes it to an SST file, so the caller must make it durable another way (a journal of its own,
    /// replayed after a crash) or accept losing it. Reads see it at once.</summary>
    public void WriteWithoutWal(WriteBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (batch.Database is not null && !ReferenceEquals(batch.Database, this))
            throw new ArgumentException($"the batch writes to {batch.Database.Path}, not {Path}", nameof(batch));
        ThrowIfWritesStopped();
        NativeMethods.rocksdb_write(_db, _writeNoWal, batch.Handle, out nint error);
        CheckWriteResult(error, fenceAnyError: false);
    }

    /// <summary>Switches the default column family's memtable (now, on this thread: writes after this call go to
    /// the new one) and schedules its flush to SST files without waiting for it. <see cref="ImmutableMemtables"/>
    /// reaching 0 says the flush is done.</summary>
    public void StartFlush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowIfWritesStopped();
        NativeMethods.rocksdb_flush(_db, _flushNoWait, out nint error);
        CheckWriteResult(error, fenceAnyError: false);
    }

    /// <summary>The default column family's memtables switched out but not yet flushed to SST files.</summary>
    public ulong ImmutableMemtables => GetIntProperty("rocksdb.num-immutable-mem-table") ?? 0;

    /// <summary>Writes RocksDB's WAL buffer to the file (ManualWalFlush) and, with
    /// <paramref name="sync"/>, fsyncs it: every write that returned before this call started is
    /// then durable. Blocks; DurableWriter calls it from its own thread.</summary>
    public void FlushWal(bool sync)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FlushWalCore(sync);
    }

    private void FlushWalCore(bool sync)
    {
        ThrowIfWritesStopped();
        NativeMethods.rocksdb_flush_wal(_db, sync ? (byte)1 : (byte)0, out nint error);
        CheckWriteResult(error, fenceAnyError: true);
    }

    private void ThrowIfWritesStopped()
    {
        var failure = Volatile.Read(ref _writeFailure);
        if (failure is not null)
        {
            throw new RocksDbException(failure.RocksDbMessage, Path,
                "writes to this database stopped after this error; reopen it to write again");
        }
    }

    /// <summary>Throws RocksDB's error, if any, and fences writes when it means the WAL (or the
    /// data) can no longer be trusted: an I/O error or corruption, or any FlushWal failure.</summary>
    private void CheckWriteResult(nint error, bool fenceAnyError)
    {
        if (error == 0) return;
        var exception = NativeError.ToException(error, Path);
        if (fenceAnyError || exception.Kind is RocksDbErrorKind.IOError or RocksDbErrorKind.Corruption)
        {
            Interlocked.CompareExchange(ref _writeFailure, exception, null);
        }
        throw exception;
    }

    // ---- reads --------------------------------------------------------------------------------

    public byte[]? Get(ReadOnlySpan<byte> key) => Get(DefaultColumnFamily, key);

    /// <summary>The value of <paramref name="key"/>, or null when absent. Allocates the result;
    /// the hot path uses the Span or callback overloads.</summary>
    public byte[]? Get(ColumnFamily columnFamily, ReadOnlySpan<byte> key, RocksDbSnapshot? snapshot = null)
    {
        using var lease = Lease();
        nint slice = GetPinned(columnFamily, key, snapshot);
        if (slice == 0) return null;
        try
        {
            return PinnedValue(slice).ToArray();
        }
        finally
        {
            NativeMethods.rocksdb_pinnableslice_destroy(slice);
        }
    }

    /// <summary>Copies the value of <paramref name="key"/> into <paramref name="destination"/>
    /// without allocating. <paramref name="valueLength"/> is the value's length when the key
    /// exists (also when the buffer was too small), else 0. <paramref name="verifyChecksums"/> false
    /// skips RocksDB's own checksum checks of what it reads: only for values the caller verifies itself
    /// (it has no effect with a snapshot).</summary>
    public GetStatus Get(ColumnFamily columnFamily, ReadOnlySpan<byte> key, Span<byte> destination, out int valueLength, RocksDbSnapshot? snapshot = null,
        bool verifyChecksums = true)
    {
        using var lease = Lease();
        nint slice = GetPinned(columnFamily, key, snapshot, verifyChecksums);
        if (slice == 0)
        {
            valueLength = 0;
            return GetStatus.NotFound;
        }
        try
        {
            var value = PinnedValue(slice);
            valueLength = value.Length;
            if (value.Length > destination.Length) return GetStatus.BufferTooSmall;
            value.CopyTo(destination);
            return GetStatus.Found;
        }
        finally
        {
            NativeMethods.rocksdb_pinnableslice_destroy(slice);
        }
    }

    /// <summary>Runs <paramref name="reader"/> over the value of <paramref name="key"/> in place
    /// (pinned in the memtable or block cache, no copy). False, and default result, when absent.</summary>
    public bool TryGet<TState, TResult>(ColumnFamily columnFamily, ReadOnlySpan<byte> key, TState state,
        PinnedValueReader<TState, TResult> reader, out TResult result, RocksDbSnapshot? snapshot = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        using var lease = Lease();
        nint slice = GetPinned(columnFamily, key, snapshot);
        if (slice == 0)
        {
            result = default!;
            return false;
        }
        try
        {
            result = reader(PinnedValue(slice), state);
            return true;
        }
        finally
        {
            NativeMethods.rocksdb_pinnableslice_destroy(slice);
        }
    }

    /// <summary>Reads many keys of one column family in one call (RocksDB batches the lookups).
    /// Entry i is null when keys[i] is absent.</summary>
    public byte[]?[] MultiGet(ColumnFamily columnFamily, IReadOnlyList<byte[]> keys, RocksDbSnapshot? snapshot = null)
    {
        ArgumentNullException.ThrowIfNull(keys);
        CheckOwned(columnFamily);
        CheckOwned(snapshot);
        int count = keys.Count;
        var results = new byte[]?[count];
        if (count == 0) return results;

        var keyHandles = new GCHandle[count];
        var keyPointers = new nint[count];
        var keySizes = new nuint[count];
        var columnFamilies = new nint[count];
        var values = new nint[count];
        var valueSizes = new nuint[count];
        var errors = new nint[count];
        bool cfReferenced = false;
        RocksDbException? firstError = null;
        try
        {
            for (int i = 0; i < count; i++)
            {
                keyHandles[i] = GCHandle.Alloc(keys[i], GCHandleType.Pinned);
                keyPointers[i] = keys[i].Length == 0 ? (nint)NonNull.Bytes(null) : keyHandles[i].AddrOfPinnedObject();
                keySizes[i] = (nuint)keys[i].Length;
            }
            columnFamily.Handle.DangerousAddRef(ref cfReferenced);
            Array.Fill(columnFamilies, columnFamily.Handle.DangerousGetHandle());
            // SAFETY: every array has `count` elements and is pinned for the call; the keys are
            // pinned by GCHandles; the column family pointer is kept alive by the reference taken
            // above and the DB by the marshalled handle. RocksDB fills values/valueSizes/errors with
            // malloc()ed buffers (or null) that we free below.
            fixed (nint* cfs = columnFamilies)
            fixed (nint* kp = keyPointers)
            fixed (nuint* ks = keySizes)
            fixed (nint* vp = values)
            fixed (nuint* vs = valueSizes)
            fixed (nint* ep = errors)
            {
                NativeMethods.rocksdb_multi_get_cf(_db, ReadOptionsFor(snapshot), cfs, (nuint)count,
                    (byte**)kp, ks, (byte**)vp, vs, ep);
            }
            for (int i = 0; i < count; i++)
            {
                if (errors[i] != 0)
                {
                    var e = NativeError.ToException(errors[i], Path);
                    errors[i] = 0;
                    firstError ??= e;
                }
                else if (values[i] != 0)
                {
                    // SAFETY: RocksDB returned a malloc()ed buffer of valueSizes[i] bytes.
                    results[i] = new ReadOnlySpan<byte>((void*)values[i], checked((int)valueSizes[i])).ToArray();
                }
            }
        }
        finally
        {
            if (cfReferenced) columnFamily.Handle.DangerousRelease();
            for (int i = 0; i < count; i++)
            {
                if (keyHandles[i].IsAllocated) keyHandles[i].Free();
                if (values[i] != 0) NativeMethods.rocksdb_free(values[i]);
                if (errors[i] != 0) NativeMethods.rocksdb_free(errors[i]);
            }
        }
        if (firstError is not null) throw firstError;
        return results;
    }

    /// <summary>
    /// Looks up many keys of one column family with RocksDB's batched MultiGet (one pass through the
    /// memtables, filters, indexes and blob files for the whole batch, not one per key), without allocating.
    /// The keys lie back to back in <paramref name="keys"/>, key i <paramref name="keyLengths"/>[i] bytes long,
    /// in ascending order. Value i is copied into slot i of <paramref name="values"/> (<paramref name="slotBytes"/>
    /// each); <paramref name="valueLengths"/>[i] becomes its length, or -1 when key i is absent (a value longer
    /// than its slot is not copied; its length says so). <paramref name="verifyChecksums"/> as in
    /// <see cref="Get(ColumnFamily, ReadOnlySpan{byte}, Span{byte}, out int, RocksDbSnapshot?, bool)"/>.
    /// </summary>
    public void MultiGet(ColumnFamily columnFamily, ReadOnlySpan<byte> keys, ReadOnlySpan<int> keyLengths, Span<byte> values, int slotBytes,
        Span<int> valueLengths, bool verifyChecksums = true)
    {
        CheckOwned(columnFamily);
        int count = keyLengths.Length;
        if (valueLengths.Length < count) throw new ArgumentException($"{valueLengths.Length} value lengths for {count} keys", nameof(valueLengths));
        if (slotBytes < 0 || (long)slotBytes * count > values.Length) throw new ArgumentException($"{count} slots of {slotBytes} bytes do not fit {values.Length} bytes", nameof(values));
        if (count == 0) return;
        using var lease = Lease();
        byte[] scratch = ArrayPool<byte>.Shared.Rent(count * 4 * sizeof(nint));
        RocksDbException? firstError = null;
        // SAFETY: scratch holds four arrays of `count` pointers (key pointers, key sizes, slices, errors)
        // and stays pinned for the call; every key pointer points into `keys`, pinned as well, within its
        // bounds (the offsets are checked against its length below). RocksDB fills slices and errors with
        // objects we destroy/free below, before the lease lets the DB close.
        fixed (byte* keyBase = keys)
        fixed (byte* block = scratch)
        {
            byte** keyPointers = (byte**)block;
            nuint* keySizes = (nuint*)(block + count * sizeof(nint));
            nint* slices = (nint*)(block + 2 * count * sizeof(nint));
            nint* errors = (nint*)(block + 3 * count * sizeof(nint));
            int offset = 0;
            int previous = 0;
            for (int i = 0; i < count; i++)
            {
                int length = keyLengths[i];
                if (length < 0 || length > keys.Length - offset) throw new ArgumentException($"key {i} ({length} bytes at {offset}) is outside the {keys.Length}-byte key buffer", nameof(keyLengths));
                // RocksDB is told the keys are sorted and would misbehave if they were not.
                if (i > 0 && keys.Slice(previous, keyLengths[i - 1]).SequenceCompareTo(keys.Slice(offset, length)) > 0)
                    throw new ArgumentException($"key {i} sorts before key {i - 1}: MultiGet takes its keys in ascending order", nameof(keys));
                previous = offset;
                keyPointers[i] = NonNull.Bytes(keyBase + offset);
                keySizes[i] = (nuint)length;
                slices[i] = 0;
                errors[i] = 0;
                offset += length;
            }
            NativeMethods.rocksdb_batched_multi_get_cf(_db, verifyChecksums ? _readLatest : _readLatestUnverified, columnFamily.Handle, (nuint)count,
                keyPointers, keySizes, slices, errors, sortedInput: true);
            for (int i = 0; i < count; i++)
            {
                if (errors[i] != 0)
                {
                    // ToException frees the message.
                    var error = NativeError.ToException(errors[i], Path);
                    firstError ??= error;
                    valueLengths[i] = -1;
                }
                else if (slices[i] == 0)
                {
                    valueLengths[i] = -1;
                }
                else
                {
                    var value = PinnedValue(slices[i]);
                    valueLengths[i] = value.Length;
                    if (value.Length <= slotBytes) value.CopyTo(values.Slice(i * slotBytes, slotBytes));
                }
                if (slices[i] != 0) NativeMethods.rocksdb_pinnableslice_destroy(slices[i]);
            }
        }
        ArrayPool<byte>.Shared.Return(scratch);
        if (firstError is not null) throw firstError;
    }

    // ---- iterators and snapshots --------------------------------------------------------------

    /// <summary>A new iterator over <paramref name="columnFamily"/>; dispose it before the DB.</summary>
    public RocksDbIterator NewIterator(ColumnFamily columnFamily, IteratorOptions? options = null)
    {
        CheckOwned(columnFamily);
        options ??= new IteratorOptions();
        CheckOwned(options.Snapshot);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var handle = new IteratorHandle(_db, columnFamily.Handle, options.Snapshot?.Handle,
                options.LowerBound, options.UpperBound, options.FillCache);
            var iterator = new RocksDbIterator(this, handle);
            _openChildren.Add(iterator);
            return iterator;
        }
    }

    /// <summary>An iterator over exactly the keys that start with <paramref name="prefix"/>.</summary>
    public RocksDbIterator NewPrefixIterator(ColumnFamily columnFamily, ReadOnlySpan<byte> prefix, RocksDbSnapshot? snapshot = null)
        => NewIterator(columnFamily, IteratorOptions.ForPrefix(prefix, snapshot));

    /// <summary>A snapshot of the current state; dispose it when done (it pins old versions).</summary>
    public RocksDbSnapshot GetSnapshot()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var snapshot = new RocksDbSnapshot(this, new SnapshotHandle(_db));
            _openChildren.Add(snapshot);
            return snapshot;
        }
    }

    internal void Untrack(IDisposable child)
    {
        lock (_lock) _openChildren.Remove(child);
    }

    // ---- maintenance --------------------------------------------------------------------------

    /// <summary>Flushes the memtables of <paramref name="columnFamily"/> (default: all column
    /// families) to SST files and waits for it.</summary>
    public void Flush(ColumnFamily? columnFamily = null)
    {
        if (columnFamily is not null)
        {
            FlushOne(columnFamily);
            return;
        }
        ColumnFamily[] all;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            all = [.. _columnFamilies.Values];
        }
        foreach (var cf in all) FlushOne(cf);
    }

    private void FlushOne(ColumnFamily columnFamily)
    {
        CheckOwned(columnFamily);
        // A memtable switch writes out the old WAL's buffer: fenced like a write.
        ThrowIfWritesStopped();
        NativeMethods.rocksdb_flush_cf(_db, _flushWait, columnFamily.Handle, out nint error);
        CheckWriteResult(error, fenceAnyError: false);
    }

    /// <summary>Compacts the key range [<paramref name="start"/>, <paramref name="limit"/>] (null =
    /// open end) of a column family, dropping deleted and overwritten data. Blocks until done.</summary>
    public void CompactRange(ColumnFamily? columnFamily = null, byte[]? start = null, byte[]? limit = null)
    {
        columnFamily ??= DefaultColumnFamily;
        CheckOwned(columnFamily);
        // SAFETY: the arrays are pinned for the call; a null array is passed as a null pointer,
        // which RocksDB's C API reads as "no bound".
        fixed (byte* s = start)
        fixed (byte* l = limit)
        {
            NativeMethods.rocksdb_compact_range_cf(_db, columnFamily.Handle,
                start is null ? null : NonNull.Bytes(s), (nuint)(start?.Length ?? 0),
                limit is null ? null : NonNull.Bytes(l), (nuint)(limit?.Length ?? 0));
        }
    }

    /// <summary>A property as text (see RocksDbProperty), or null if RocksDB does not know it.</summary>
    public string? GetProperty(string name, ColumnFamily? columnFamily = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        columnFamily ??= DefaultColumnFamily;
        CheckOwned(columnFamily);
        nint value = NativeMethods.rocksdb_property_value_cf(_db, columnFamily.Handle, name);
        if (value == 0) return null;
        try
        {
            return Marshal.PtrToStringUTF8(value);
        }
        finally
        {
            NativeMethods.rocksdb_free(value);
        }
    }

    /// <summary>A numeric property, or null if RocksDB has no integer value for it.</summary>
    public ulong? GetIntProperty(string name, ColumnFamily? columnFamily = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        columnFamily ??= DefaultColumnFamily;
        CheckOwned(columnFamily);
        return NativeMethods.rocksdb_property_int_cf(_db, columnFamily.Handle, name, out ulong value) == 0 ? value : null;
    }

    /// <summary>Writes an openable copy of the database into <paramref name="directory"/> (which
    /// must not exist), hard-linking SST files: a cheap consistent backup on the same filesystem.</summary>
    public void CreateCheckpoint(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ObjectDisposedException.ThrowIf(_disposed, this);
        string fullPath = System.IO.Path.GetFullPath(directory);
        string? parent = System.IO.Path.GetDirectoryName(fullPath);
        if (parent is not null) Directory.CreateDirectory(parent);
        ThrowIfWritesStopped(); // the checkpoint flushes memtables first
        nint checkpoint = NativeMethods.rocksdb_checkpoint_object_create(_db, out nint error);
        NativeError.ThrowIfError(error, Path);
        try
        {
            // log_size_for_flush = 0: always flush memtables first, so the copy needs no WAL replay.
            NativeMethods.rocksdb_checkpoint_create(checkpoint, fullPath, 0, out error);
            NativeError.ThrowIfError(error, Path);
        }
        finally
        {
            NativeMethods.rocksdb_checkpoint_object_destroy(checkpoint);
        }
    }

    // ---- dispose ------------------------------------------------------------------------------

    public void Dispose()
    {
        IDisposable[] children;
        ColumnFamily[] families;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            children = [.. _openChildren];
            _openChildren.Clear();
            families = [.. _columnFamilies.Values];
            _columnFamilies.Clear();
        }
        if (Options.ManualWalFlush && WriteFailure is null)
        {
            // Writes that returned are in RocksDB's WAL buffer; hand them to the OS so a clean
            // close does not lose them. A failure here leaves nothing better to do than close.
            try { FlushWalCore(sync: true); } catch (RocksDbException) { }
        }
        foreach (var child in children) child.Dispose();
        foreach (var cf in families) cf.Handle.Dispose();
        _readLatest.Dispose();
        _readLatestUnverified.Dispose();
        _writeNoSync.Dispose();
        _writeSync.Dispose();
        _flushWait.Dispose();
        _flushNoWait.Dispose();
        _writeNoWal.Dispose();
        _db.Dispose();
        _options.Dispose();
    }

    // ---- helpers ------------------------------------------------------------------------------

    private WriteOptionsHandle WriteOptions(bool sync) => sync ? _writeSync : _writeNoSync;

    private ReadOptionsHandle ReadOptionsFor(RocksDbSnapshot? snapshot) => snapshot?.ReadOptions ?? _readLatest;

    private nint GetPinned(ColumnFamily columnFamily, ReadOnlySpan<byte> key, RocksDbSnapshot? snapshot, bool verifyChecksums = true)
    {
        CheckOwned(columnFamily);
        CheckOwned(snapshot);
        nint slice;
        nint error;
        ReadOptionsHandle options = snapshot is null && !verifyChecksums ? _readLatestUnverified : ReadOptionsFor(snapshot);
        // SAFETY: the key is pinned for the call; RocksDB only reads it during the lookup.
        fixed (byte* k = key)
        {
            slice = NativeMethods.rocksdb_get_pinned_cf(_db, options, columnFamily.Handle, NonNull.Bytes(k), (nuint)key.Length, out error);
        }
        if (error != 0)
        {
            if (slice != 0) NativeMethods.rocksdb_pinnableslice_destroy(slice);
            NativeError.ThrowIfError(error, Path);
        }
        return slice;
    }

    private static ReadOnlySpan<byte> PinnedValue(nint slice)
    {
        byte* value = NativeMethods.rocksdb_pinnableslice_value(slice, out nuint length);
        // SAFETY: the pinnable slice keeps `length` bytes alive until it is destroyed; callers use
        // the span only before destroying the slice, under a DB lease (so the DB stays open).
        return new ReadOnlySpan<byte>(value, checked((int)length));
    }

    private void CheckOwned(ColumnFamily columnFamily)
    {
        ArgumentNullException.ThrowIfNull(columnFamily);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!ReferenceEquals(columnFamily.Database, this))
            throw new ArgumentException($"column family '{columnFamily.Name}' belongs to {columnFamily.Database.Path}, not {Path}", nameof(columnFamily));
        ObjectDisposedException.ThrowIf(columnFamily.IsClosed, columnFamily);
    }

    private void CheckOwned(RocksDbSnapshot? snapshot)
    {
        if (snapshot is null) return;
        if (!ReferenceEquals(snapshot.Database, this))
            throw new ArgumentException($"the snapshot belongs to {snapshot.Database.Path}, not {Path}", nameof(snapshot));
        ObjectDisposedException.ThrowIf(snapshot.IsDisposed, snapshot);
    }

    /// <summary>Keeps the native DB open across several native calls (a pinned value must not
    /// outlive the DB even if Dispose runs on another thread meanwhile).</summary>
    private DbLease Lease()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new DbLease(_db);
    }

    private readonly ref struct DbLease
    {
        private readonly DbHandle? _db;

        public DbLease(DbHandle db)
        {
            bool added = false;
            db.DangerousAddRef(ref added);
            _db = added ? db : null;
        }

        public void Dispose() => _db?.DangerousRelease();
    }
}
