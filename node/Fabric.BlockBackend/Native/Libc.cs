using System.Runtime.InteropServices;

namespace Fabric.BlockBackend.Native;

/// <summary>
/// The few Linux system calls the block backend needs and .NET does not expose: fdatasync/fallocate for
/// file volumes, and for vhost-user the raw unix-socket calls with SCM_RIGHTS, mmap of guest memory,
/// memfd for the inflight region, eventfd and poll. x86_64 Linux layouts only (the only target here).
/// </summary>
/// <remarks>Every call sets errno (SetLastError) so callers can report <c>Marshal.GetLastPInvokeError()</c>.</remarks>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EOPNOTSUPP = 95;

    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SCM_RIGHTS = 1;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_RDWR = 2;

    public const int PROT_READ = 1;
    public const int PROT_WRITE = 2;
    public const int MAP_SHARED = 1;
    public static readonly nint MapFailed = -1;

    public const uint MFD_CLOEXEC = 1;
    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;

    public const short POLLIN = 1;
    public const short POLLERR = 8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    public const int FALLOC_FL_KEEP_SIZE = 1;
    public const int FALLOC_FL_PUNCH_HOLE = 2;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport(Lib, EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int FdataSync(nint fd);

    [LibraryImport(Lib, EntryPoint = "fallocate", SetLastError = true)]
    public static partial int Fallocate(nint fd, int mode, long offset, long length);

    [LibraryImport(Lib, EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Lib, EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, byte* address, uint addressLength);

    [LibraryImport(Lib, EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, byte* address, uint addressLength);

    [LibraryImport(Lib, EntryPoint = "listen", SetLastError = true)]
    public static partial int Listen(int fd, int backlog);

    [LibraryImport(Lib, EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, byte* address, uint* addressLength, int flags);

    [LibraryImport(Lib, EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport(Lib, EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint RecvMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Lib, EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initial, int flags);

    [LibraryImport(Lib, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MemfdCreate(string name, uint flags);

    [LibraryImport(Lib, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport(Lib, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport(Lib, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    /// <summary>Writes 1 to an eventfd (a kick or a call). Errors other than a full counter are ignored:
    /// the peer may have closed its end, which is not this side's failure.</summary>
    public static void SignalEventFd(int fd)
    {
        ulong one = 1;
        // SAFETY: &one points at 8 live stack bytes for the duration of the call.
        Write(fd, &one, 8);
    }

    /// <summary>Reads (and so resets) an eventfd counter; false when it was zero (non-blocking fd).</summary>
    public static bool DrainEventFd(int fd)
    {
        ulong value;
        // SAFETY: &value points at 8 writable stack bytes for the duration of the call.
        return Read(fd, &value, 8) == 8;
    }

    /// <summary>Fills a sockaddr_un for a path; false when the path does not fit (108 bytes with NUL).</summary>
    public static bool TryFillUnixAddress(string path, Span<byte> address, out uint length)
    {
        address.Clear();
        int count = System.Text.Encoding.UTF8.GetByteCount(path);
        length = 0;
        if (count == 0 || count > 107 || address.Length < 110)
        {
            return false;
        }
        address[0] = AF_UNIX;
        System.Text.Encoding.UTF8.GetBytes(path, address[2..]);
        length = (uint)(2 + count + 1);
        return true;
    }
}
