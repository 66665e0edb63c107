// Owns one rocksdb_writeoptions_t*; immutable after construction, so it is shared by all threads.
using Microsoft.Win32.SafeHandles;

namespace Fabric.RocksDb.Native;

internal sealed class WriteOptionsHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public WriteOptionsHandle(bool sync, bool disableWal = false) : base(ownsHandle: true)
    {
        nint native = NativeMethods.rocksdb_writeoptions_create();
        NativeMethods.rocksdb_writeoptions_set_sync(native, sync ? (byte)1 : (byte)0);
        NativeMethods.rocksdb_writeoptions_disable_WAL(native, disableWal ? 1 : 0);
        SetHandle(native);
    }

    protected override bool ReleaseHandle()
    {
        NativeMethods.rocksdb_writeoptions_destroy(handle);
        return true;
    }
}
