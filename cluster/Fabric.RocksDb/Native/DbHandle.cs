// Owns one open rocksdb_t*. Closing it (rocksdb_close) happens only when the last reference is
// gone: every child that points into the DB (column family handles, snapshots, iterators) holds a
// DangerousAddRef on this handle and releases it after destroying itself, so the C++ rule "destroy
// all column family handles, iterators and snapshots before deleting the DB" holds whatever order
// the managed objects are disposed or finalized in.
using Microsoft.Win32.SafeHandles;

namespace Fabric.RocksDb.Native;

internal sealed class DbHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public DbHandle(nint db) : base(ownsHandle: true) => SetHandle(db);

    protected override bool ReleaseHandle()
    {
        NativeMethods.rocksdb_close(handle);
        return true;
    }
}
