// A cursor over one column family in key order (bytewise), optionally bounded and optionally
// reading a snapshot. Usage:
//     using var it = db.NewIterator(cf, IteratorOptions.ForPrefix(prefix));
//     for (it.SeekToFirst(); it.Valid; it.Next()) Use(it.Key, it.Value);
// Contract: Key and Value are views into RocksDB's memory, valid while the iterator stays on the
// same entry (until the next Seek/Next/Prev or Dispose). Key/Value/Next/Prev on an invalid
// iterator throw InvalidOperationException instead of reaching RocksDB's undefined behaviour.
// Valid turns an iterator error (I/O, corruption) into a RocksDbException rather than looking like
// the end of the data. Not thread-safe: one iterator belongs to one thread at a time. Disposing
// the database disposes its iterators first.
using Fabric.RocksDb.Native;

namespace Fabric.RocksDb;

public sealed unsafe class RocksDbIterator : IDisposable
{
    private readonly IteratorHandle _handle;
    private readonly RocksDatabase _database;
    private bool _valid;

    internal RocksDbIterator(RocksDatabase database, IteratorHandle handle)
    {
        _database = database;
        _handle = handle;
    }

    /// <summary>True when positioned on an entry. False at either end; throws RocksDbException if
    /// the iterator stopped because of an error.</summary>
    public bool Valid
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            if (!_valid) ThrowIfError();
            return _valid;
        }
    }

    /// <summary>The current key; valid until the iterator moves.</summary>
    public ReadOnlySpan<byte> Key
    {
        get
        {
            RequireValid();
            byte* key = NativeMethods.rocksdb_iter_key(_handle, out nuint length);
            // SAFETY: the iterator is valid, so RocksDB returns a pointer to `length` bytes that it
            // keeps unchanged until the iterator moves or is destroyed, which the contract above
            // forbids while the span is used.
            return new ReadOnlySpan<byte>(key, checked((int)length));
        }
    }

    /// <summary>The current value; valid until the iterator moves.</summary>
    public ReadOnlySpan<byte> Value
    {
        get
        {
            RequireValid();
            byte* value = NativeMethods.rocksdb_iter_value(_handle, out nuint length);
            // SAFETY: as for Key: `length` bytes stay valid until the iterator moves or is destroyed.
            return new ReadOnlySpan<byte>(value, checked((int)length));
        }
    }

    public void SeekToFirst()
    {
        NativeMethods.rocksdb_iter_seek_to_first(_handle);
        Refresh();
    }

    public void SeekToLast()
    {
        NativeMethods.rocksdb_iter_seek_to_last(_handle);
        Refresh();
    }

    /// <summary>Positions at the first key at or after <paramref name="key"/>.</summary>
    public void Seek(ReadOnlySpan<byte> key)
    {
        // SAFETY: the key is pinned for the call and RocksDB only reads it during the seek.
        fixed (byte* k = key)
        {
            NativeMethods.rocksdb_iter_seek(_handle, NonNull.Bytes(k), (nuint)key.Length);
        }
        Refresh();
    }

    /// <summary>Positions at the last key at or before <paramref name="key"/>.</summary>
    public void SeekForPrev(ReadOnlySpan<byte> key)
    {
        // SAFETY: the key is pinned for the call and RocksDB only reads it during the seek.
        fixed (byte* k = key)
        {
            NativeMethods.rocksdb_iter_seek_for_prev(_handle, NonNull.Bytes(k), (nuint)key.Length);
        }
        Refresh();
    }

    public void Next()
    {
        RequireValid();
        NativeMethods.rocksdb_iter_next(_handle);
        Refresh();
    }

    public void Prev()
    {
        RequireValid();
        NativeMethods.rocksdb_iter_prev(_handle);
        Refresh();
    }

    /// <summary>Throws the iterator's error, if it has one.</summary>
    public void ThrowIfError()
    {
        NativeMethods.rocksdb_iter_get_error(_handle, out nint error);
        NativeError.ThrowIfError(error, _database.Path);
    }

    public void Dispose()
    {
        // Close the handle before clearing _valid: a reader on another thread (the database disposing its
        // iterators) that finds _valid false then also finds the handle closed, and gets ObjectDisposedException.
        _handle.Dispose();
        Volatile.Write(ref _valid, false);
        _database.Untrack(this);
    }

    private void Refresh() => _valid = NativeMethods.rocksdb_iter_valid(_handle) != 0;

    private void RequireValid()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (!Volatile.Read(ref _valid))
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            throw new InvalidOperationException("the iterator is not positioned on an entry (check Valid first)");
        }
    }
}
