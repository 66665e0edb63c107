// A port on a host interface (a veth end or a NIC) through an AF_PACKET socket: as a trunk it carries
// the VLAN networks 802.1Q-tagged (the uplink between nodes); as an access port it carries one network
// untagged (e.g. the host side of a namespace's veth).
//
// Receive: recvmmsg batches. The kernel takes the 802.1Q tag off received frames and reports it in
// PACKET_AUXDATA; we put it back in front of the payload (each slot has 4 bytes of headroom for that),
// so the pipeline sees the frame as it was on the wire. Frames this socket sent itself are ignored
// (PACKET_IGNORE_OUTGOING, or sll_pkttype on older kernels).
// Transmit: copies into slots (adding the tag for a trunk) and sends each batch with sendmmsg.
//
// With a virtio-net header (PACKET_VNET_HDR, the default for access ports) frames keep their offload
// state: a 64 KiB TCP super-frame from the namespace crosses as one frame with its GSO size and partial
// checksum, and leaves by another such port unchanged (the kernel segments, or nobody does, veth to veth).
// Without it, offloads must be off on the interface (ethtool -K DEV tso off gso off gro off tx off):
// GSO frames larger than the slot are dropped and counted.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Fabric.Switch.Datapath;
using Fabric.Switch.Flows;
using Fabric.Switch.Native;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Ports;

public sealed unsafe class PacketSocketPort : SwitchPort
{
    private const int Batch = 64;
    private const int Headroom = VlanTag.Length;
    private readonly bool _vnet;
    private readonly int _vnetLen;
    private const int ControlSize = 64;
    private readonly int _slotSize;
    private readonly byte* _rxBuf;
    private readonly byte* _txBuf;
    private readonly byte* _rxControl;
    private readonly Libc.MMsgHdr* _rxMsgs;
    private readonly Libc.MMsgHdr* _txMsgs;
    private readonly Libc.IoVec* _rxIov;
    private readonly Libc.IoVec* _txIov;
    private readonly Libc.SockAddrLl* _rxAddr;
    private int _txCount;
    // Transmit-side coalescing (what GRO does on a NIC's receive side): consecutive in-order segments of
    // one TCP flow queued in the same batch are merged into one GSO frame, so the namespace's stack gets
    // one 64 KiB frame instead of 45 small ones. State of the slot still open for appending:
    private int _coalSlot = -1;
    private int _coalL4;
    private int _coalHdr;
    private uint _coalNextSeq;
    private int _coalSegSize;
    private int _coalSegs;
    public long CoalescedSegments;
    private int _fd = -1;
    private bool _disposed;

    /// <param name="name">Port name (for a trunk: the interface name, which networks name as their uplink).</param>
    /// <param name="interfaceName">The host interface to attach to.</param>
    /// <param name="kind">Trunk or Access.</param>
    /// <param name="maxFrame">Largest frame (without tag) the port handles: MTU + 14 (64 KiB with offloads).</param>
    /// <param name="offloads">Use a virtio-net header (checksum and segmentation offloads pass through).</param>
    public PacketSocketPort(string name, string interfaceName, PortKind kind, int maxFrame = 9216 + 14, bool offloads = false) : base(name, kind)
    {
        if (kind is not (PortKind.Trunk or PortKind.Access)) throw new ArgumentException("an AF_PACKET port is a trunk or an access port", nameof(kind));
        InterfaceName = interfaceName;
        _vnet = offloads;
        _vnetLen = offloads ? OffloadInfo.HeaderLength : 0;
        if (offloads) maxFrame = Math.Max(maxFrame, EthernetFrame.MaxLength);
        _slotSize = (maxFrame + Headroom + VlanTag.Length + _vnetLen + 63) & ~63;
        _rxBuf = (byte*)NativeMemory.AlignedAlloc((nuint)(Batch * _slotSize), 64);
        _txBuf = (byte*)NativeMemory.AlignedAlloc((nuint)(Batch * _slotSize), 64);
        _rxControl = (byte*)NativeMemory.AllocZeroed((nuint)(Batch * ControlSize));
        _rxMsgs = (Libc.MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.MMsgHdr)));
        _txMsgs = (Libc.MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.MMsgHdr)));
        _rxIov = (Libc.IoVec*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.IoVec)));
        _txIov = (Libc.IoVec*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.IoVec)));
        _rxAddr = (Libc.SockAddrLl*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Libc.SockAddrLl)));
        for (int i = 0; i < Batch; i++)
        {
            _rxIov[i] = new Libc.IoVec { Base = _rxBuf + i * _slotSize + Headroom, Len = (nuint)(_slotSize - Headroom) };
            _txIov[i] = new Libc.IoVec { Base = _txBuf + i * _slotSize, Len = 0 };
            _txMsgs[i].Hdr.Iov = &_txIov[i];
            _txMsgs[i].Hdr.IovLen = 1;
        }
    }

    public string InterfaceName { get; }
    public int IfIndex { get; private set; }
    public long RxBatches;
    public long TxBatches;
    public string LastError { get; private set; } = "";

    protected internal override int PollFd => _fd;
    protected internal override bool AcceptsOffload => _vnet;

    public override string Describe() => $"af_packet {InterfaceName} ({Kind.ToString().ToLowerInvariant()}{(_vnet ? $", offloads, {CoalescedSegments} segments coalesced" : "")}){(LastError.Length > 0 ? $" last error: {LastError}" : "")}";

    /// <summary>Opens and binds the socket. Must run on the thread (namespace) where the interface lives.</summary>
    public void Open()
    {
        if (_fd >= 0) return;
        uint index = Libc.if_nametoindex(InterfaceName);
        if (index == 0) throw new IOException($"no interface '{InterfaceName}' (check the uplink setting and `ip link`)");
        int fd = Libc.socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, Libc.Htons(Libc.ETH_P_ALL));
        if (fd < 0) throw Libc.Failure("socket(AF_PACKET) (needs CAP_NET_RAW)", Libc.Errno);
        try
        {
            int one = 1;
            if (Libc.setsockopt(fd, Libc.SOL_PACKET, Libc.PACKET_AUXDATA, &one, 4) < 0) throw Libc.Failure("PACKET_AUXDATA", Libc.Errno);
            if (_vnet && Libc.setsockopt(fd, Libc.SOL_PACKET, Libc.PACKET_VNET_HDR, &one, 4) < 0) throw Libc.Failure("PACKET_VNET_HDR", Libc.Errno);
            Libc.setsockopt(fd, Libc.SOL_PACKET, Libc.PACKET_IGNORE_OUTGOING, &one, 4); // best effort: pkttype is checked too
            // No PACKET_QDISC_BYPASS: it would hide our transmitted frames from tcpdump/tshark on the host.
            int size = 8 << 20;
            if (Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &size, 4) < 0) Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &size, 4);
            if (Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUFFORCE, &size, 4) < 0) Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &size, 4);
            var ll = new Libc.SockAddrLl { Family = Libc.AF_PACKET, Protocol = Libc.Htons(Libc.ETH_P_ALL), IfIndex = (int)index };
            if (Libc.bind(fd, &ll, (uint)sizeof(Libc.SockAddrLl)) < 0) throw Libc.Failure($"bind AF_PACKET to {InterfaceName}", Libc.Errno);
            var mreq = new Libc.PacketMreq { IfIndex = (int)index, Type = Libc.PACKET_MR_PROMISC };
            if (Libc.setsockopt(fd, Libc.SOL_PACKET, Libc.PACKET_ADD_MEMBERSHIP, &mreq, (uint)sizeof(Libc.PacketMreq)) < 0)
                throw Libc.Failure($"promiscuous mode on {InterfaceName}", Libc.Errno);
        }
        catch
        {
            Libc.close(fd);
            throw;
        }
        IfIndex = (int)index;
        _fd = fd;
    }

    protected internal override void OnReadable(SwitchDatapath datapath)
    {
        for (int round = 0; round < 4 && _fd >= 0; round++)
        {
            for (int i = 0; i < Batch; i++)
            {
                ref var h = ref _rxMsgs[i].Hdr;
                h.Name = &_rxAddr[i];
                h.NameLen = (uint)sizeof(Libc.SockAddrLl);
                h.Iov = &_rxIov[i];
                h.IovLen = 1;
                h.Control = _rxControl + i * ControlSize;
                h.ControlLen = ControlSize;
                h.Flags = 0;
            }
            int n = Libc.recvmmsg(_fd, _rxMsgs, Batch, Libc.MSG_DONTWAIT, null);
            if (n <= 0) return;
            RxBatches++;
            for (int i = 0; i < n; i++)
            {
                if (_rxAddr[i].PktType == Libc.PACKET_OUTGOING) continue;
                int len = (int)_rxMsgs[i].Len;
                byte* slot = _rxBuf + i * _slotSize;
                if ((_rxMsgs[i].Hdr.Flags & Libc.MSG_TRUNC) != 0)
                {
                    Counters.RxPackets++;
                    Counters.Drop(DropReason.TooBig, len);
                    continue;
                }
                byte* frame = slot + Headroom + _vnetLen;
                var offload = _vnet ? OffloadInfo.Read(new ReadOnlySpan<byte>(slot + Headroom, OffloadInfo.HeaderLength)) : OffloadInfo.None;
                len -= _vnetLen;
                if (len < 0) continue;
                if (TryGetVlan(ref _rxMsgs[i].Hdr, out ushort tci, out ushort tpid) && len >= 12)
                {
                    // Put the tag the kernel took off back in front of the type field.
                    byte* tagged = frame - VlanTag.Length;
                    Buffer.MemoryCopy(frame, tagged, 12, 12);
                    frame = tagged;
                    frame[12] = (byte)(tpid >> 8);
                    frame[13] = (byte)tpid;
                    frame[14] = (byte)(tci >> 8);
                    frame[15] = (byte)tci;
                    len += VlanTag.Length;
                    offload = offload.Shift(VlanTag.Length);
                }
                datapath.Process(this, new Span<byte>(frame, len), 0, offload);
            }
            datapath.FlushPorts();
            if (n < Batch) return;
        }
    }

    private static bool TryGetVlan(ref Libc.MsgHdr h, out ushort tci, out ushort tpid)
    {
        tci = 0;
        tpid = 0;
        byte* p = (byte*)h.Control;
        byte* end = p + (int)h.ControlLen;
        while (p + sizeof(Libc.CMsgHdr) <= end)
        {
            var c = (Libc.CMsgHdr*)p;
            if (c->Len < (nuint)sizeof(Libc.CMsgHdr)) break;
            if (c->Level == Libc.SOL_PACKET && c->Type == Libc.PACKET_AUXDATA)
            {
                var aux = (Libc.TpacketAuxdata*)(p + sizeof(Libc.CMsgHdr));
                if ((aux->Status & Libc.TP_STATUS_VLAN_VALID) == 0) return false;
                tci = aux->VlanTci;
                tpid = (aux->Status & Libc.TP_STATUS_VLAN_TPID_VALID) != 0 ? aux->VlanTpid : EtherType.Vlan;
                return true;
            }
            p += ((int)c->Len + 7) & ~7;
        }
        return false;
    }

    protected internal override bool Transmit(ReadOnlySpan<byte> frame, in OutputOp op, in OffloadInfo offload)
    {
        if (_fd < 0) return false;
        bool plain = _vnet && offload.IsNone && op.Encap == OutputEncap.None;
        if (plain && _coalSlot >= 0 && TryAppend(frame)) return true;
        int need = _vnetLen + frame.Length + (op.Encap == OutputEncap.Vlan ? VlanTag.Length : 0);
        if (need > _slotSize) return false;
        if (_txCount == Batch) FlushTx();
        CloseCoalescing();
        int i = _txCount++;
        var slot = new Span<byte>(_txBuf + i * _slotSize, _slotSize);
        var dst = slot[_vnetLen..];
        int len;
        bool pushed = false;
        if (op.Encap == OutputEncap.Vlan)
        {
            pushed = frame.Length < 16 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != EtherType.Vlan;
            len = FrameEncap.PushVlan(frame, dst, op.Vlan);
        }
        else
        {
            frame.CopyTo(dst);
            len = frame.Length;
        }
        if (_vnet) (pushed ? offload.Shift(VlanTag.Length) : offload).Write(slot);
        _txIov[i].Len = (nuint)(_vnetLen + len);
        if (plain) OpenCoalescing(i, frame);
        return true;
    }

    /// <summary>Starts coalescing on slot <paramref name="i"/> when its frame is a plain IPv4 TCP data segment.</summary>
    private void OpenCoalescing(int i, ReadOnlySpan<byte> frame)
    {
        if (!IsTcpData(frame, out int l4, out int hdr, out uint seq, out byte flags)) return;
        if ((flags & ~(TcpSegment.Ack | TcpSegment.Psh)) != 0 || (flags & TcpSegment.Psh) != 0) return;
        _coalSlot = i;
        _coalL4 = l4;
        _coalHdr = hdr;
        _coalSegSize = frame.Length - hdr;
        _coalNextSeq = seq + (uint)_coalSegSize;
        _coalSegs = 1;
    }

    private static bool IsTcpData(ReadOnlySpan<byte> f, out int l4, out int hdr, out uint seq, out byte flags)
    {
        l4 = hdr = 0;
        seq = 0;
        flags = 0;
        if (f.Length < 14 + 20 + 20 || BinaryPrimitives.ReadUInt16BigEndian(f[12..]) != EtherType.Ipv4) return false;
        var ip = f[14..];
        if (ip[0] != 0x45 || ip[9] != IpProtocol.Tcp || (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF) != 0) return false;
        if (BinaryPrimitives.ReadUInt16BigEndian(ip[2..]) != f.Length - 14) return false; // no padding, no truncation
        l4 = 34;
        hdr = l4 + (f[l4 + 12] >> 4) * 4;
        if (hdr <= l4 + 19 || hdr >= f.Length) return false;
        seq = BinaryPrimitives.ReadUInt32BigEndian(f[(l4 + 4)..]);
        flags = f[l4 + 13];
        return true;
    }

    /// <summary>Appends the frame's payload to the open slot when it continues the same flow in order.</summary>
    private bool TryAppend(ReadOnlySpan<byte> frame)
    {
        if (_coalSlot != _txCount - 1) return false;
        if (!IsTcpData(frame, out int l4, out int hdr, out uint seq, out byte flags)) return false;
        if (l4 != _coalL4 || hdr != _coalHdr || seq != _coalNextSeq) return false;
        if ((flags & ~(TcpSegment.Ack | TcpSegment.Psh)) != 0) return false;
        int n = frame.Length - hdr;
        if (n > _coalSegSize) return false;
        byte* slot = _txBuf + _coalSlot * _slotSize;
        var first = new Span<byte>(slot + _vnetLen, (int)_txIov[_coalSlot].Len - _vnetLen);
        if (first.Length + n > EthernetFrame.HeaderLength + 65535 || _vnetLen + first.Length + n > _slotSize) return false;
        // Same MACs, same IP header but length/id/checksum, same ports and ack, same TCP options.
        if (!frame[..12].SequenceEqual(first[..12])) return false;
        if (!frame.Slice(14, 2).SequenceEqual(first.Slice(14, 2)) || !frame.Slice(14 + 6, 4).SequenceEqual(first.Slice(14 + 6, 4))
            || !frame.Slice(14 + 12, 8).SequenceEqual(first.Slice(14 + 12, 8))) return false;
        if (!frame.Slice(l4, 4).SequenceEqual(first.Slice(l4, 4)) || !frame.Slice(l4 + 8, 4).SequenceEqual(first.Slice(l4 + 8, 4))) return false;
        if (!frame[(l4 + 20)..hdr].SequenceEqual(first[(l4 + 20)..hdr])) return false;
        frame[hdr..].CopyTo(new Span<byte>(slot + _vnetLen + first.Length, n));
        _txIov[_coalSlot].Len += (nuint)n;
        // The merged frame takes the newest window and PSH.
        first[l4 + 14] = frame[l4 + 14];
        first[l4 + 15] = frame[l4 + 15];
        first[l4 + 13] |= (byte)(flags & TcpSegment.Psh);
        _coalNextSeq += (uint)n;
        _coalSegs++;
        CoalescedSegments++;
        if (n < _coalSegSize || (flags & TcpSegment.Psh) != 0) CloseCoalescing();
        return true;
    }

    /// <summary>Turns the open slot, if it merged several segments, into a GSO frame with a partial checksum.</summary>
    private void CloseCoalescing()
    {
        int i = _coalSlot;
        if (i < 0) return;
        _coalSlot = -1;
        if (_coalSegs < 2) return;
        byte* slot = _txBuf + i * _slotSize;
        var f = new Span<byte>(slot + _vnetLen, (int)_txIov[i].Len - _vnetLen);
        var ip = f[14..];
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(f.Length - 14));
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip[..20]));
        // CHECKSUM_PARTIAL convention: the field holds the folded pseudo-header sum; the receiver finishes it.
        int tcpLen = f.Length - _coalL4;
        ulong pseudo = (ulong)BinaryPrimitives.ReadUInt32BigEndian(ip[12..]) + BinaryPrimitives.ReadUInt32BigEndian(ip[16..]) + IpProtocol.Tcp + (uint)tcpLen;
        BinaryPrimitives.WriteUInt16BigEndian(f[(_coalL4 + 16)..], (ushort)~InternetChecksum.Finish(pseudo));
        new OffloadInfo(OffloadInfo.FlagNeedsCsum, OffloadInfo.GsoTcpV4, (ushort)_coalHdr, (ushort)_coalSegSize, (ushort)_coalL4, 16)
            .Write(new Span<byte>(slot, OffloadInfo.HeaderLength));
    }

    protected internal override void FlushTx()
    {
        CloseCoalescing();
        int sent = 0;
        while (sent < _txCount)
        {
            int n = Libc.sendmmsg(_fd, _txMsgs + sent, (uint)(_txCount - sent), Libc.MSG_DONTWAIT);
            if (n < 0)
            {
                int errno = Libc.Errno;
                if (errno == Libc.EINTR) continue;
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
        NativeMemory.Free(_rxControl);
        NativeMemory.Free(_rxMsgs);
        NativeMemory.Free(_txMsgs);
        NativeMemory.Free(_rxIov);
        NativeMemory.Free(_txIov);
        NativeMemory.Free(_rxAddr);
        base.Dispose();
    }
}
