// Owns one rocksdb_column_family_handle_t* and a reference on its DB.
namespace Fabric.RocksDb.Native;

internal sealed class ColumnFamilyHandle : ChildHandle
{
    public ColumnFamilyHandle(DbHandle db, nint native)
    {
        // Take the DB reference first: if the DB is already closed this throws and the caller
        // destroys the native handle itself.
        AddParents(db);
        SetNative(native);
    }

    protected override void Destroy(nint native) => NativeMethods.rocksdb_column_family_handle_destroy(native);
}
