// Owns one rocksdb_readoptions_t* used for point reads: either the DB's default (latest state) or
// one bound to a snapshot, in which case it holds a reference on the snapshot so the snapshot is
// not released while reads through these options can still run. Immutable after construction, so
// one instance is shared by all threads (RocksDB takes ReadOptions by const reference).
namespace Fabric.RocksDb.Native;

internal sealed class ReadOptionsHandle : ChildHandle
{
    public ReadOptionsHandle(SnapshotHandle? snapshot, bool verifyChecksums = true)
    {
        AddParents(snapshot);
        nint native = NativeMethods.rocksdb_readoptions_create();
        if (snapshot is not null) NativeMethods.rocksdb_readoptions_set_snapshot(native, snapshot.DangerousGetHandle());
        if (!verifyChecksums) NativeMethods.rocksdb_readoptions_set_verify_checksums(native, 0);
        SetNative(native);
    }

    protected override void Destroy(nint native) => NativeMethods.rocksdb_readoptions_destroy(native);
}
