// An atomic group of puts and deletes, possibly across column families of one database, applied
// by RocksDatabase.Write or DurableWriter.WriteAsync: after a crash either all of it is there or
// none. RocksDB copies keys and values into the batch's own buffer when they are added, so the
// caller's spans may be reused right away. Reusable: Clear() empties it without freeing its
// buffer. Not thread-safe. A batch names column families by id only, so apply it to the database
// its column families came from.
using Fabric.RocksDb.Native;

namespace Fabric.RocksDb;

public sealed unsafe class WriteBatch : IDisposable
{
    private readonly WriteBatchHandle _handle = new();

    /// <summary>Number of operations (puts, deletes, range deletes) in the batch.</summary>
    public int Count => NativeMethods.rocksdb_writebatch_count(_handle);

    internal WriteBatchHandle Handle => _handle;

    public void Put(ColumnFamily columnFamily, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
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
        // SAFETY: the key is pinned for the call and copied into the batch.
        fixed (byte* k = key)
        {
            NativeMethods.rocksdb_writebatch_delete_cf(_handle, columnFamily.Handle, NonNull.Bytes(k), (nuint)key.Length);
        }
    }

    /// <summary>Deletes every key in [<paramref name="startKey"/>, <paramref name="endKey"/>).</summary>
    public void DeleteRange(ColumnFamily columnFamily, ReadOnlySpan<byte> startKey, ReadOnlySpan<byte> endKey)
    {
        // SAFETY: both keys are pinned for the call and copied into the batch.
        fixed (byte* s = startKey)
        fixed (byte* e = endKey)
        {
            NativeMethods.rocksdb_writebatch_delete_range_cf(
                _handle, columnFamily.Handle, NonNull.Bytes(s), (nuint)startKey.Length, NonNull.Bytes(e), (nuint)endKey.Length);
        }
    }

    /// <summary>Removes every operation; the batch can be filled again.</summary>
    public void Clear() => NativeMethods.rocksdb_writebatch_clear(_handle);

    public void Dispose() => _handle.Dispose();
}
