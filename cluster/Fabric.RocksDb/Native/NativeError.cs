// The `char** errptr` convention of RocksDB's C API: null on success, else a malloc()ed,
// NUL-terminated message. This turns the message into a RocksDbException (RocksDB's own text plus
// the DB path) and frees the native string with rocksdb_free, exactly once.
using System.Runtime.InteropServices;

namespace Fabric.RocksDb.Native;

internal static class NativeError
{
    public static void ThrowIfError(nint errptr, string? path)
    {
        if (errptr != 0) Throw(errptr, path);
    }

    public static RocksDbException ToException(nint errptr, string? path)
    {
        string message = Marshal.PtrToStringUTF8(errptr) ?? "(RocksDB returned an empty error)";
        NativeMethods.rocksdb_free(errptr);
        return new RocksDbException(message, path);
    }

    private static void Throw(nint errptr, string? path) => throw ToException(errptr, path);
}
