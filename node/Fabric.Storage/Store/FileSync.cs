using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Fabric.Storage.Store;

/// <summary>The store's durability calls (slot file, journal): fdatasync, fsync, and fsync of a directory after a
/// rename into it. A failure is an <see cref="IOException"/> naming what was synced and the errno.</summary>
internal static class FileSync
{
    /// <summary>The file's data (and the metadata needed to read it back) is on disk.</summary>
    public static void Data(SafeFileHandle file, string what)
    {
        if (fdatasync((int)file.DangerousGetHandle()) != 0)
        {
            throw new IOException($"fdatasync of {what} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>The file's data and all its metadata are on disk.</summary>
    public static void Full(SafeFileHandle file, string what)
    {
        if (fsync((int)file.DangerousGetHandle()) != 0)
        {
            throw new IOException($"fsync of {what} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>The directory's entries (a file created or renamed into it) are on disk.</summary>
    public static void Directory(string directory)
    {
        int fd = open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"opening {directory} to sync it failed: errno {Marshal.GetLastPInvokeError()}");
        }
        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"fsync of {directory} failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            close(fd);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int fdatasync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc")]
    private static extern int close(int fd);
}
