// The node's VXLAN tunnel endpoint (RFC 7348): one UDP socket bound to the node's data address and port
// 4789. Frames for other nodes leave as VXLAN header + inner frame in one UDP datagram each, batched with
// sendmmsg; datagrams from other nodes arrive in batches with recvmmsg. The sender of a datagram is
// identified by its source address: only the data addresses of the map's nodes are accepted.
//
//   node A (this)                         node B
//     │── UDP A:4789 -> B:4789 [VXLAN vni | inner frame] ──>│
//     │<── UDP B:4789 -> A:4789 [VXLAN vni | inner frame] ──│
//
// The UDP source port is the VTEP's own port rather than a per-flow hash: with one socket per node the
// kernel picks it, and the receiver does not care (RFC 7348 recommends the hash only for ECMP underlays).
using System.Runtime.InteropServices;
using Fabric.Switch.Datapath;
using Fabric.Switch.Flows;
using Fabric.Switch.Native;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Ports;

public sealed unsafe class VxlanTunnelPort : SwitchPort
{
    private const int Batch = 64;
    private readonly int _slotSize;
    private readonly byte* _rxBuf;
    private readonly byte* _txBuf;
    private readonly Libc.MMsgHdr* _rxMsgs;
    private readonly Libc.MMsgHdr* _txMsgs;
    private readonly Libc.IoVec* _rxIov;
    private readonly Libc.IoVec* _txIov;
    private readonly Libc.SockAddrIn* _rxAddr;
    private readonly Libc.SockAddrIn* _txAddr;
    private int _txCount;
    private int _fd = -1;
    private Dictionary<uint, uint> _nodeByAddress = new();
    private Dictionary<uint, Libc.SockAddrIn> _addressByNode = new();
    private uint _lastAddr, _lastNode;
    private bool _disposed;

    /// <param name="localAddress">IPv4 data address (host order) to bind.</param>
    /// <param name="port">UDP port, 4789 by default; every node of a cluster uses the same one.</param>
    /// <param name="maxDatagram">Largest datagram handled; larger ones are dropped and counted.</param>
    public VxlanTunnelPort(string name, uint localAddress, ushort port = VxlanHeader.DefaultPort, int maxDatagram = 9216)
        : base(name, PortKind.Tunnel)
    {
        LocalAddress = localAddress;
        UdpPort = port;
        _slotSize = maxDatagram;
        _rxBuf = (byte*)NativeMemory.AlignedAlloc((nuint)(Batch * _slotSize), 64);
        _txBuf = (byte*)NativeMemory.AlignedAlloc((nuint)(Batch * _slotSize), 64);
        _rxMsgs = (Libc.MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.MMsgHdr)));
        _txMsgs = (Libc.MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.MMsgHdr)));
        _rxIov = (Libc.IoVec*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.IoVec)));
        _txIov = (Libc.IoVec*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.IoVec)));
        _rxAddr = (Libc.SockAddrIn*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.SockAddrIn)));
        _txAddr = (Libc.SockAddrIn*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.SockAddrIn)));
        for (int i = 0; i < Batch; i++)
        {
            _rxIov[i] = new Libc.IoVec { Base = _rxBuf + i * _slotSize, Len = (nuint)_slotSize };
            _txIov[i] = new Libc.IoVec { Base = _txBuf + i * _slotSize, Len = 0 };
        }
    }

    public uint LocalAddress { get; }
    public ushort UdpPort { get; private set; }
    public long UnknownSenders;
    public long RxBatches;
    public long TxBatches;
    public long TxErrors;
    public string LastError { get; private set; } = "";

    protected internal override int PollFd => _fd;

    public override string Describe() =>
        $"vxlan {IpBits.FormatIpv4(LocalAddress)}:{UdpPort} ({_addressByNode.Count} remote nodes){(LastError.Length > 0 ? $" last error: {LastError}" : "")}";

    /// <summary>Creates and binds the socket. Must run on the thread (namespace) the port should live in.</summary>
    public void Open()
    {
        if (_fd >= 0) return;
        int fd = Libc.socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) throw Libc.Failure("socket(AF_INET, SOCK_DGRAM)", Libc.Errno);
        int size = 8 << 20;
        // FORCE variants (root) go past net.core.rmem_max; fall back to the capped ones.
        if (Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &size, 4) < 0) Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &size, 4);
        if (Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUFFORCE, &size, 4) < 0) Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &size, 4);
        // RFC 7348: the outer UDP checksum SHOULD be zero over IPv4 (the inner frame has its own).
        int one = 1;
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_NO_CHECK, &one, 4);
        var addr = Libc.Inet(LocalAddress, UdpPort);
        if (Libc.bind(fd, &addr, (uint)sizeof(Libc.SockAddrIn)) < 0)
        {
            int errno = Libc.Errno;
            Libc.close(fd);
            throw Libc.Failure($"bind VXLAN endpoint {IpBits.FormatIpv4(LocalAddress)}:{UdpPort}", errno);
        }
        if (UdpPort == 0)
        {
            var bound = new Libc.SockAddrIn();
            uint len = (uint)sizeof(Libc.SockAddrIn);
            Libc.getsockname(fd, &bound, &len);
            UdpPort = Libc.Htons(bound.Port);
        }
        _fd = fd;
    }

    /// <summary>The other nodes' endpoints: node id -> IPv4 data address (host order) and UDP port.</summary>
    public void SetRemotes(IEnumerable<(uint Node, uint Address, ushort Port)> remotes)
    {
        var byAddr = new Dictionary<uint, uint>();
        var byNode = new Dictionary<uint, Libc.SockAddrIn>();
        foreach (var (node, address, port) in remotes)
        {
            byAddr[address] = node;
            byNode[node] = Libc.Inet(address, port);
        }
        _nodeByAddress = byAddr;
        _addressByNode = byNode;
        _lastAddr = _lastNode = 0;
    }

    public IReadOnlyDictionary<uint, uint> NodesByAddress => _nodeByAddress;

    public bool TryGetRemote(uint node, out uint address, out ushort port)
    {
        if (_addressByNode.TryGetValue(node, out var a))
        {
            address = Libc.Htonl(a.Addr);
            port = Libc.Htons(a.Port);
            return true;
        }
        address = 0;
        port = 0;
        return false;
    }

    protected internal override void OnReadable(SwitchDatapath datapath)
    {
        for (int round = 0; round < 4 && _fd >= 0; round++)
        {
            for (int i = 0; i < Batch; i++)
            {
                ref var h = ref _rxMsgs[i].Hdr;
                h.Name = &_rxAddr[i];
                h.NameLen = (uint)sizeof(Libc.SockAddrIn);
                h.Iov = &_rxIov[i];
                h.IovLen = 1;
                h.Control = null;
                h.ControlLen = 0;
                h.Flags = 0;
            }
            int n = Libc.recvmmsg(_fd, _rxMsgs, Batch, Libc.MSG_DONTWAIT, null);
            if (n <= 0) return;
            RxBatches++;
            for (int i = 0; i < n; i++)
            {
                int len = (int)_rxMsgs[i].Len;
                if ((_rxMsgs[i].Hdr.Flags & Libc.MSG_TRUNC) != 0)
                {
                    Counters.RxPackets++;
                    Counters.Drop(DropReason.TooBig, len);
                    continue;
                }
                uint src = Libc.Htonl(_rxAddr[i].Addr);
                uint node = NodeOf(src);
                if (node == 0) UnknownSenders++;
                datapath.Process(this, new Span<byte>(_rxBuf + i * _slotSize, len), node);
            }
            datapath.FlushPorts();
            if (n < Batch) return;
        }
    }

    private uint NodeOf(uint address)
    {
        if (address == _lastAddr) return _lastNode;
        uint node = _nodeByAddress.GetValueOrDefault(address);
        _lastAddr = address;
        _lastNode = node;
        return node;
    }

    protected internal override bool Transmit(ReadOnlySpan<byte> frame, in OutputOp op, in OffloadInfo offload)
    {
        if (_fd < 0 || op.Encap != OutputEncap.Vxlan) return false;
        if (!_addressByNode.TryGetValue(op.Node, out var dest)) return false;
        if (frame.Length + VxlanHeader.Length > _slotSize) return false;
        if (_txCount == Batch) FlushTx();
        int i = _txCount++;
        byte* slot = _txBuf + i * _slotSize;
        VxlanHeader.Write(new Span<byte>(slot, VxlanHeader.Length), op.Vni);
        frame.CopyTo(new Span<byte>(slot + VxlanHeader.Length, frame.Length));
        _txIov[i].Len = (nuint)(frame.Length + VxlanHeader.Length);
        _txAddr[i] = dest;
        ref var h = ref _txMsgs[i].Hdr;
        h.Name = &_txAddr[i];
        h.NameLen = (uint)sizeof(Libc.SockAddrIn);
        h.Iov = &_txIov[i];
        h.IovLen = 1;
        h.Control = null;
        h.ControlLen = 0;
        h.Flags = 0;
        return true;
    }

    protected internal override void FlushTx()
    {
        int sent = 0;
        while (sent < _txCount)
        {
            int n = Libc.sendmmsg(_fd, _txMsgs + sent, (uint)(_txCount - sent), Libc.MSG_DONTWAIT);
            if (n < 0)
            {
                int errno = Libc.Errno;
                if (errno == Libc.EINTR) continue;
                // The socket buffer is full (EAGAIN/ENOBUFS) or the datagram was refused (e.g. no route):
                // drop the first and go on with the rest; UDP gives no better promise anyway.
                TxErrors++;
                LastError = Libc.StrError(errno);
                Counters.Drop(errno is Libc.EAGAIN or Libc.ENOBUFS ? DropReason.TxQueueFull : DropReason.TxError, (int)_txIov[sent].Len);
                sent++;
                continue;
            }
            sent += n;
        }
        if (_txCount > 0) TxBatches++;
        _txCount = 0;
    }

    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Libc.CloseQuietly(ref _fd);
        NativeMemory.AlignedFree(_rxBuf);
        NativeMemory.AlignedFree(_txBuf);
        NativeMemory.Free(_rxMsgs);
        NativeMemory.Free(_txMsgs);
        NativeMemory.Free(_rxIov);
        NativeMemory.Free(_txIov);
        NativeMemory.Free(_rxAddr);
        NativeMemory.Free(_txAddr);
        base.Dispose();
    }
}
