// Owns one const rocksdb_snapshot_t* and a reference on its DB; releasing needs the db pointer.
namespace Fabric.RocksDb.Native;

internal sealed class SnapshotHandle : ChildHandle
{
    private readonly DbHandle _db;

    public SnapshotHandle(DbHandle db)
    {
        _db = db;
        AddParents(db);
        SetNative(NativeMethods.rocksdb_create_snapshot(db));
    }

    // The db SafeHandle may already be marked closed here (we hold its last reference), so pass its
    // raw pointer: it is valid until our reference is dropped, after this returns.
    protected override void Destroy(nint native) => NativeMethods.rocksdb_release_snapshot(_db.DangerousGetHandle(), native);
}
