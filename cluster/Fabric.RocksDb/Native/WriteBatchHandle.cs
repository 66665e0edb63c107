// Owns one rocksdb_writebatch_t*. A batch refers to column families only by id, so it holds no
// reference on a DB.
using Microsoft.Win32.SafeHandles;

namespace Fabric.RocksDb.Native;

internal sealed class WriteBatchHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public WriteBatchHandle() : base(ownsHandle: true) => SetHandle(NativeMethods.rocksdb_writebatch_create());

    public WriteBatchHandle(nint native) : base(ownsHandle: true) => SetHandle(native);

    protected override bool ReleaseHandle()
    {
        NativeMethods.rocksdb_writebatch_destroy(handle);
        return true;
    }
}
