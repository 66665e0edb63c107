// Owns one rocksdb_iterator_t* together with everything it points into: its own
// rocksdb_readoptions_t (RocksDB's DBIter keeps a pointer to the options' bound Slices) and the
// native copies of the lower/upper bound bytes (rocksdb_readoptions_set_iterate_*_bound stores a
// Slice over the caller's memory, not a copy). It holds references on the DB, the column family
// and the snapshot it reads from, so none of them is destroyed while the iterator lives.
using System.Runtime.InteropServices;

namespace Fabric.RocksDb.Native;

internal sealed unsafe class IteratorHandle : ChildHandle
{
    private nint _readOptions;
    private byte* _lowerBound;
    private byte* _upperBound;

    public IteratorHandle(DbHandle db, ColumnFamilyHandle cf, SnapshotHandle? snapshot, byte[]? lowerBound, byte[]? upperBound, bool fillCache)
    {
        AddParents(db, cf, snapshot);
        try
        {
            _readOptions = NativeMethods.rocksdb_readoptions_create();
            NativeMethods.rocksdb_readoptions_set_fill_cache(_readOptions, fillCache ? (byte)1 : (byte)0);
            if (snapshot is not null) NativeMethods.rocksdb_readoptions_set_snapshot(_readOptions, snapshot.DangerousGetHandle());
            if (lowerBound is not null)
            {
                _lowerBound = CopyToNative(lowerBound);
                NativeMethods.rocksdb_readoptions_set_iterate_lower_bound(_readOptions, _lowerBound, (nuint)lowerBound.Length);
            }
            if (upperBound is not null)
            {
                _upperBound = CopyToNative(upperBound);
                NativeMethods.rocksdb_readoptions_set_iterate_upper_bound(_readOptions, _upperBound, (nuint)upperBound.Length);
            }
            nint iterator = NativeMethods.rocksdb_create_iterator_cf(db, _readOptions, cf);
            if (iterator == 0) throw new InvalidOperationException("rocksdb_create_iterator_cf returned null");
            SetNative(iterator);
        }
        catch
        {
            FreeOptionsAndBounds();
            AbandonParents();
            throw;
        }
    }

    private static byte* CopyToNative(byte[] bytes)
    {
        // SAFETY: we allocate at least one byte (so a zero-length bound still gets a non-null
        // pointer) and copy exactly bytes.Length bytes into the fresh allocation.
        byte* native = (byte*)NativeMemory.Alloc((nuint)Math.Max(1, bytes.Length));
        bytes.CopyTo(new Span<byte>(native, bytes.Length));
        return native;
    }

    private void FreeOptionsAndBounds()
    {
        if (_readOptions != 0) NativeMethods.rocksdb_readoptions_destroy(_readOptions);
        _readOptions = 0;
        // SAFETY: both pointers are null or came from NativeMemory.Alloc above, and are freed once:
        // they are nulled right after.
        NativeMemory.Free(_lowerBound);
        NativeMemory.Free(_upperBound);
        _lowerBound = null;
        _upperBound = null;
    }

    protected override void Destroy(nint native)
    {
        // The iterator first: it still points at the options' bound Slices.
        NativeMethods.rocksdb_iter_destroy(native);
        FreeOptionsAndBounds();
    }
}
