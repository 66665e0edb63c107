// A TAP interface as a port (/dev/net/tun, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR): the host side of a
// network on this node (an access port: the node's own address on a VXLAN network, a router, a DHCP
// server), or a VM NIC for QEMU's `-netdev tap`. The interface appears in the network namespace of the
// thread that opens it (the datapath thread) and is brought up.
//
// With the virtio-net header the kernel hands us checksum-partial and TSO frames (TUNSETOFFLOAD) and
// accepts them back: offload state passes through, and the datapath finishes checksums or segments for
// ports that cannot take it. A TAP moves one frame per read()/write(): no batching system call exists.
using System.Runtime.InteropServices;
using Fabric.Switch.Datapath;
using Fabric.Switch.Flows;
using Fabric.Switch.Native;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Ports;

public sealed unsafe class TapPort : SwitchPort
{
    private const int TunFCsum = 0x01, TunFTso4 = 0x02, TunFTso6 = 0x04;
    private const int BufferSize = OffloadInfo.HeaderLength + EthernetFrame.MaxLength + 64;
    private readonly byte* _rx;
    private readonly byte* _tx;
    private int _fd = -1;
    private bool _disposed;

    public TapPort(string name, string interfaceName, PortKind kind = PortKind.Access) : base(name, kind)
    {
        if (kind is not (PortKind.Access or PortKind.Vm)) throw new ArgumentException("a TAP port is an access or a VM port", nameof(kind));
        if (interfaceName.Length is 0 or > 15) throw new ArgumentException($"TAP name '{interfaceName}' must have 1 to 15 characters");
        InterfaceName = interfaceName;
        _rx = (byte*)NativeMemory.Alloc(BufferSize);
        _tx = (byte*)NativeMemory.Alloc(BufferSize);
    }

    public string InterfaceName { get; }
    public string LastError { get; private set; } = "";
    protected internal override int PollFd => _fd;
    protected internal override bool AcceptsOffload => true;

    public override string Describe() => $"tap {InterfaceName}{(LastError.Length > 0 ? $" last error: {LastError}" : "")}";

    /// <summary>Creates (or attaches to) the TAP interface and brings it up. Needs CAP_NET_ADMIN.</summary>
    public void Open()
    {
        if (_fd >= 0) return;
        int fd = Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (fd < 0) throw Libc.Failure("open /dev/net/tun", Libc.Errno);
        try
        {
            var req = new Libc.IfReq();
            Libc.SetNameInIfReq(ref req, InterfaceName);
            req.Flags = (short)(Libc.IFF_TAP | Libc.IFF_NO_PI | Libc.IFF_VNET_HDR);
            if (Libc.ioctl(fd, Libc.TUNSETIFF, &req) < 0) throw Libc.Failure($"TUNSETIFF {InterfaceName} (needs CAP_NET_ADMIN)", Libc.Errno);
            int hdr = OffloadInfo.HeaderLength;
            if (Libc.ioctl(fd, Libc.TUNSETVNETHDRSZ, &hdr) < 0) throw Libc.Failure("TUNSETVNETHDRSZ", Libc.Errno);
            if (Libc.ioctl(fd, Libc.TUNSETOFFLOAD, (void*)(nint)(TunFCsum | TunFTso4 | TunFTso6)) < 0) throw Libc.Failure("TUNSETOFFLOAD", Libc.Errno);
            SetUp();
        }
        catch
        {
            Libc.close(fd);
            throw;
        }
        _fd = fd;
    }

    private void SetUp()
    {
        int s = Libc.socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (s < 0) throw Libc.Failure("socket for SIOCSIFFLAGS", Libc.Errno);
        try
        {
            var req = new Libc.IfReq();
            Libc.SetNameInIfReq(ref req, InterfaceName);
            if (Libc.ioctl(s, Libc.SIOCGIFFLAGS, &req) < 0) throw Libc.Failure($"SIOCGIFFLAGS {InterfaceName}", Libc.Errno);
            req.Flags |= Libc.IFF_UP;
            if (Libc.ioctl(s, Libc.SIOCSIFFLAGS, &req) < 0) throw Libc.Failure($"bring {InterfaceName} up", Libc.Errno);
        }
        finally
        {
            Libc.close(s);
        }
    }

    protected internal override void OnReadable(SwitchDatapath datapath)
    {
        for (int i = 0; i < 64 && _fd >= 0; i++)
        {
            nint n = Libc.read(_fd, _rx, BufferSize);
            if (n < 0)
            {
                int errno = Libc.Errno;
                if (errno != Libc.EAGAIN && errno != Libc.EINTR) LastError = Libc.StrError(errno);
                break;
            }
            if (n < OffloadInfo.HeaderLength) continue;
            var offload = OffloadInfo.Read(new ReadOnlySpan<byte>(_rx, OffloadInfo.HeaderLength));
            datapath.Process(this, new Span<byte>(_rx + OffloadInfo.HeaderLength, (int)n - OffloadInfo.HeaderLength), 0, offload);
        }
        datapath.FlushPorts();
    }

    protected internal override bool Transmit(ReadOnlySpan<byte> frame, in OutputOp op, in OffloadInfo offload)
    {
        if (_fd < 0) return false;
        int len = frame.Length + (op.Encap == OutputEncap.Vlan ? VlanTag.Length : 0);
        if (OffloadInfo.HeaderLength + len > BufferSize) return false;
        var dst = new Span<byte>(_tx + OffloadInfo.HeaderLength, BufferSize - OffloadInfo.HeaderLength);
        if (op.Encap == OutputEncap.Vlan) len = FrameEncap.PushVlan(frame, dst, op.Vlan);
        else frame.CopyTo(dst);
        (op.Encap == OutputEncap.Vlan ? offload.Shift(VlanTag.Length) : offload).Write(new Span<byte>(_tx, OffloadInfo.HeaderLength));
        nint n = Libc.write(_fd, _tx, (nuint)(OffloadInfo.HeaderLength + len));
        if (n >= 0) return true;
        int errno = Libc.Errno;
        if (errno != Libc.EAGAIN) LastError = Libc.StrError(errno);
        return false;
    }

    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Libc.CloseQuietly(ref _fd);
        NativeMemory.Free(_rx);
        NativeMemory.Free(_tx);
        base.Dispose();
    }
}
