// An atomic group of puts and deletes, possibly across column families of one database, applied
// by RocksDatabase.Write or DurableWriter.WriteAsync: after a crash either all of it is there or
// none. RocksDB copies keys and values into the batch's own buffer when they are added, so the
// caller's spans may be reused right away. Reusable: Clear() empties it without freeing its
// buffer. Not thread-safe.
// A batch belongs to the database of the first column family put into it (until Clear): RocksDB
// names column families in a batch by id only, and a batch naming an id the target database lacks
// is not refused whole: RocksDB 7.8 inserts the records before the bad one into the memtable and
// then fails. So mixing databases is refused here, when the operation is added, and Write refuses
// a batch bound to another database.
using Fabric.RocksDb.Native;

namespace Fabric.RocksDb;

public sealed unsafe class WriteBatch : IDisposable
{
    private readonly WriteBatchHandle _handle;
    private RocksDatabase? _database;

    public WriteBatch() => _handle = new WriteBatchHandle();

    private WriteBatch(WriteBatchHandle handle, RocksDatabase database)
    {
        _handle = handle;
        _database = database;
    }

    /// <summary>The batch in RocksDB's serialized form (a header with sequence number and count, then its
    /// records), for a journal of one's own; valid until the batch changes or is disposed.</summary>
    public ReadOnlySpan<byte> Data
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            byte* data = NativeMethods.rocksdb_writebatch_data(_handle, out nuint size);
            // SAFETY: RocksDB returns its own buffer of size bytes, unchanged until the batch is modified.
            return new ReadOnlySpan<byte>(data, checked((int)size));
        }
    }

    /// <summary>A batch for <paramref name="database"/> from the serialized form <see cref="Data"/> gave: the
    /// replay of a journal. RocksDB checks only that the bytes are at least a header; the caller must have
    /// checked their integrity (a checksum of its own), and the column family ids in them must be the database's.</summary>
    public static WriteBatch FromData(RocksDatabase database, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(database);
        if (data.Length < 12)
        {
            throw new ArgumentException($"a serialized write batch is at least 12 bytes (sequence and count), not {data.Length}", nameof(data));
        }
        // SAFETY: data is pinned for the call; RocksDB copies it into the new batch.
        fixed (byte* d = data)
        {
            return new WriteBatch(new WriteBatchHandle(NativeMethods.rocksdb_writebatch_create_from(d, (nuint)data.Length)), database);
        }
    }

    /// <summary>Number of operations (puts, deletes, range deletes) in the batch.</summary>
    public int Count => NativeMethods.rocksdb_writebatch_count(_handle);

    /// <summary>The database this batch's column families belong to, or null while it is empty.</summary>
    public RocksDatabase? Database => _database;

    internal WriteBatchHandle Handle => _handle;

    public void Put(ColumnFamily columnFamily, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        Bind(columnFamily);
        // SAFETY: key and value are pinned for the call; RocksDB appends a copy of both to the
        // batch's buffer before returning and keeps no pointer to them.
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            NativeMethods.rocksdb_writebatch_put_cf(
                _handle, columnFamily.Handle, NonNull.Bytes(k), (nuint)key.Length, NonNull.Bytes(v), (nuint)value.Length);
        }
    }

    /// <summary>Puts the concatenation <paramref name="valueHead"/> + <paramref name="valueTail"/>
    /// (for example a small header and a 4 KiB block) without building it in managed memory first.</summary>
    public void Put(ColumnFamily columnFamily, ReadOnlySpan<byte> key, ReadOnlySpan<byte> valueHead, ReadOnlySpan<byte> valueTail)
    {
        Bind(columnFamily);
        // SAFETY: all three spans are pinned for the call; the pointer and size arrays live on this
        // stack frame; RocksDB copies the key and the two value parts into the batch and keeps no
        // pointer to any of them.
        fixed (byte* k = key)
        fixed (byte* h = valueHead)
        fixed (byte* t = valueTail)
        {
            byte* keyPointer = NonNull.Bytes(k);
            nuint keySize = (nuint)key.Length;
            byte** values = stackalloc byte*[2] { NonNull.Bytes(h), NonNull.Bytes(t) };
            nuint* valueSizes = stackalloc nuint[2] { (nuint)valueHead.Length, (nuint)valueTail.Length };
            NativeMethods.rocksdb_writebatch_putv_cf(_handle, columnFamily.Handle, 1, &keyPointer, &keySize, 2, values, valueSizes);
        }
    }

    public void Delete(ColumnFamily columnFamily, ReadOnlySpan<byte> key)
    {
        Bind(columnFamily);
        // SAFETY: the key is pinned for the call and copied into the batch.
        fixed (byte* k = key)
        {
            NativeMethods.rocksdb_writebatch_delete_cf(_handle, columnFamily.Handle, NonNull.Bytes(k), (nuint)key.Length);
        }
    }

    /// <summary>Deletes every key in [<paramref name="startKey"/>, <paramref name="endKey"/>).</summary>
    public void DeleteRange(ColumnFamily columnFamily, ReadOnlySpan<byte> startKey, ReadOnlySpan<byte> endKey)
    {
        Bind(columnFamily);
        // SAFETY: both keys are pinned for the call and copied into the batch.
        fixed (byte* s = startKey)
        fixed (byte* e = endKey)
        {
            NativeMethods.rocksdb_writebatch_delete_range_cf(
                _handle, columnFamily.Handle, NonNull.Bytes(s), (nuint)startKey.Length, NonNull.Bytes(e), (nuint)endKey.Length);
        }
    }

    /// <summary>Removes every operation; the batch can be filled again.</summary>
    public void Clear()
    {
        NativeMethods.rocksdb_writebatch_clear(_handle);
        _database = null;
    }

    private void Bind(ColumnFamily columnFamily)
    {
        ArgumentNullException.ThrowIfNull(columnFamily);
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        ObjectDisposedException.ThrowIf(columnFamily.IsClosed, columnFamily);
        if (_database is null)
        {
            _database = columnFamily.Database;
        }
        else if (!ReferenceEquals(_database, columnFamily.Database))
        {
            throw new ArgumentException(
                $"column family '{columnFamily.Name}' belongs to {columnFamily.Database.Path}, but this batch already writes to {_database.Path}",
                nameof(columnFamily));
        }
    }

    public void Dispose() => _handle.Dispose();
}
