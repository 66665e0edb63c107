// The Linux system calls the switch's ports use, bound with [DllImport("libc")] (no extra packages).
// Every call sets errno (SetLastError) so callers can tell EAGAIN from real failures. Structures follow
// the x86-64 / arm64 Linux ABI; sizes are asserted where the layout matters.
using System.Runtime.InteropServices;

namespace Fabric.Switch.Native;

internal static unsafe partial class Libc
{
    public const int AF_UNIX = 1, AF_INET = 2, AF_PACKET = 17;
    public const int SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3;
    public const int SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1, SO_REUSEADDR = 2, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_SNDBUFFORCE = 32, SO_RCVBUFFORCE = 33, SO_NO_CHECK = 11;
    public const int SOL_PACKET = 263, PACKET_ADD_MEMBERSHIP = 1, PACKET_AUXDATA = 8, PACKET_VNET_HDR = 15, PACKET_QDISC_BYPASS = 20, PACKET_IGNORE_OUTGOING = 23;
    public const int PACKET_MR_PROMISC = 1;
    public const int PACKET_OUTGOING = 4;
    public const int TP_STATUS_VLAN_VALID = 0x10, TP_STATUS_VLAN_TPID_VALID = 0x40;
    public const int SOL_UDP = 17, UDP_SEGMENT = 103, UDP_GRO = 104;
    public const int MSG_DONTWAIT = 0x40, MSG_TRUNC = 0x20, MSG_NOSIGNAL = 0x4000, MSG_WAITFORONE = 0x10000;
    public const int EAGAIN = 11, EINTR = 4, EINPROGRESS = 115, ENOBUFS = 105, EMSGSIZE = 90, ECONNREFUSED = 111, ENOENT = 2, EPIPE = 32, ECONNRESET = 104;
    public const int O_RDWR = 2, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    public const int F_GETFL = 3, F_SETFL = 4;
    public const ushort ETH_P_ALL = 0x0003;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x001, EPOLLOUT = 0x004, EPOLLERR = 0x008, EPOLLHUP = 0x010;
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;
    public const int CLONE_NEWNET = 0x40000000;
    public const uint TUNSETIFF = 0x400454CA, TUNSETVNETHDRSZ = 0x400454D8, TUNSETOFFLOAD = 0x400454D0;
    public const short IFF_TAP = 0x0002, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;
    public const uint SIOCGIFINDEX = 0x8933, SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, SIOCGIFHWADDR = 0x8927;
    public const short IFF_UP = 0x1, IFF_PROMISC = 0x100;

    [StructLayout(LayoutKind.Sequential)]
    public struct SockAddrIn
    {
        public ushort Family;
        /// <summary>Network byte order.</summary>
        public ushort Port;
        /// <summary>Network byte order.</summary>
        public uint Addr;
        public ulong Zero;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct SockAddrLl
    {
        public ushort Family;
        /// <summary>Network byte order.</summary>
        public ushort Protocol;
        public int IfIndex;
        public ushort HaType;
        public byte PktType;
        public byte HaLen;
        public fixed byte Addr[8];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct SockAddrUn
    {
        public ushort Family;
        public fixed byte Path[108];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Len;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MMsgHdr
    {
        public MsgHdr Hdr;
        public uint Len;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct CMsgHdr
    {
        public nuint Len;
        public int Level;
        public int Type;
    }

    /// <summary>struct tpacket_auxdata: where AF_PACKET reports the VLAN tag the kernel took off the frame.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TpacketAuxdata
    {
        public uint Status;
        public uint Len;
        public uint SnapLen;
        public ushort Mac;
        public ushort Net;
        public ushort VlanTci;
        public ushort VlanTpid;
    }

    /// <summary>struct epoll_event is packed on x86-64 (12 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IfReq
    {
        public fixed byte Name[16];
        public short Flags;     // ifr_flags (also the start of ifr_ifindex / ifr_hwaddr)
        public fixed byte Pad[22];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PacketMreq
    {
        public int IfIndex;
        public ushort Type;
        public ushort AlenLen;
        public fixed byte Address[8];
    }

    [DllImport("libc", SetLastError = true)] public static extern int socket(int domain, int type, int protocol);
    [DllImport("libc", SetLastError = true)] public static extern int bind(int fd, void* addr, uint len);
    [DllImport("libc", SetLastError = true)] public static extern int connect(int fd, void* addr, uint len);
    [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] public static extern nint read(int fd, void* buf, nuint count);
    [DllImport("libc", SetLastError = true)] public static extern nint write(int fd, void* buf, nuint count);
    [DllImport("libc", SetLastError = true)] public static extern nint writev(int fd, IoVec* iov, int count);
    [DllImport("libc", SetLastError = true)] public static extern nint send(int fd, void* buf, nuint len, int flags);
    [DllImport("libc", SetLastError = true)] public static extern nint recv(int fd, void* buf, nuint len, int flags);
    [DllImport("libc", SetLastError = true)] public static extern nint sendto(int fd, void* buf, nuint len, int flags, void* addr, uint addrLen);
    [DllImport("libc", SetLastError = true)] public static extern nint sendmsg(int fd, MsgHdr* msg, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int recvmmsg(int fd, MMsgHdr* msgs, uint vlen, int flags, void* timeout);
    [DllImport("libc", SetLastError = true)] public static extern int sendmmsg(int fd, MMsgHdr* msgs, uint vlen, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int setsockopt(int fd, int level, int name, void* value, uint len);
    [DllImport("libc", SetLastError = true)] public static extern int getsockname(int fd, void* addr, uint* len);
    [DllImport("libc", SetLastError = true)] public static extern int ioctl(int fd, nuint request, void* arg);
    [DllImport("libc", SetLastError = true)] public static extern int open([MarshalAs(UnmanagedType.LPStr)] string path, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int fcntl(int fd, int cmd, int arg);
    [DllImport("libc", SetLastError = true)] public static extern int epoll_create1(int flags);
    [DllImport("libc", SetLastError = true)] public static extern int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);
    [DllImport("libc", SetLastError = true)] public static extern int epoll_wait(int epfd, EpollEvent* events, int max, int timeoutMs);
    [DllImport("libc", SetLastError = true)] public static extern int eventfd(uint initval, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int setns(int fd, int nstype);
    [DllImport("libc", SetLastError = true)] public static extern int kill(int pid, int sig);
    [DllImport("libc", SetLastError = true)] public static extern int setpriority(int which, int who, int prio);
    [DllImport("libc", SetLastError = true)] public static extern int gettid();
    [DllImport("libc", SetLastError = true)] public static extern uint if_nametoindex([MarshalAs(UnmanagedType.LPStr)] string name);
    [DllImport("libc", EntryPoint = "strerror")] private static extern nint strerror_native(int errnum);

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string StrError(int errno) => Marshal.PtrToStringAnsi(strerror_native(errno)) ?? $"errno {errno}";

    public static ushort Htons(ushort v) => BitConverter.IsLittleEndian ? (ushort)((v >> 8) | (v << 8)) : v;
    public static uint Htonl(uint v) => BitConverter.IsLittleEndian ? System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v) : v;

    public static SockAddrIn Inet(uint ipv4HostOrder, ushort port) =>
        new() { Family = AF_INET, Port = Htons(port), Addr = Htonl(ipv4HostOrder) };

    /// <summary>Closes a descriptor, ignoring errors (for cleanup paths).</summary>
    public static void CloseQuietly(ref int fd)
    {
        if (fd >= 0) close(fd);
        fd = -1;
    }

    public static void SetNameInIfReq(ref IfReq req, string name)
    {
        if (name.Length >= 16) throw new ArgumentException($"interface name '{name}' is longer than 15 characters");
        fixed (byte* p = req.Name)
        {
            for (int i = 0; i < name.Length; i++) p[i] = (byte)name[i];
            p[name.Length] = 0;
        }
    }

    /// <summary>An exception for a failed system call during set-up (never used on the per-frame path).</summary>
    public static IOException Failure(string what, int errno) => new($"{what}: {StrError(errno)} (errno {errno})");
}
