// Owns one rocksdb_options_t* (DB options and the column family options built from them).
using Microsoft.Win32.SafeHandles;

namespace Fabric.RocksDb.Native;

internal sealed class OptionsHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public OptionsHandle() : base(ownsHandle: true) => SetHandle(NativeMethods.rocksdb_options_create());

    protected override bool ReleaseHandle()
    {
        NativeMethods.rocksdb_options_destroy(handle);
        return true;
    }
}
