// Owns one rocksdb_flushoptions_t*; immutable after construction.
using Microsoft.Win32.SafeHandles;

namespace Fabric.RocksDb.Native;

internal sealed class FlushOptionsHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public FlushOptionsHandle(bool wait) : base(ownsHandle: true)
    {
        nint native = NativeMethods.rocksdb_flushoptions_create();
        NativeMethods.rocksdb_flushoptions_set_wait(native, wait ? (byte)1 : (byte)0);
        SetHandle(native);
    }

    protected override bool ReleaseHandle()
    {
        NativeMethods.rocksdb_flushoptions_destroy(handle);
        return true;
    }
}
