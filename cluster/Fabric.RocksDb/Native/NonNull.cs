// `fixed` over an empty span yields a null pointer. RocksDB builds Slices from (pointer, length)
// and may memcpy from them; (null, 0) is formally undefined for memcpy, so empty keys and values
// are passed as a pointer to one process-lifetime byte instead.
using System.Runtime.InteropServices;

namespace Fabric.RocksDb.Native;

internal static unsafe class NonNull
{
    private static readonly nint EmptyByte = (nint)NativeMemory.AllocZeroed(1);

    public static byte* Bytes(byte* pointer) => pointer != null ? pointer : (byte*)EmptyByte;
}
