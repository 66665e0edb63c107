// A VM NIC on QEMU's `-netdev stream` (QEMU listens on a unix socket with server=on; we connect).
// Framing, both directions: 4-byte big-endian length, then the raw Ethernet frame (no FCS, no padding).
//
//   switch                         QEMU (server=on)
//     │── connect(path) ──────────────>│   (retried every RetryInterval until QEMU listens)
//     │<── len | frame ... ────────────│   guest transmits
//     │── len | frame ... ────────────>│   guest receives
//     │<── EOF (QEMU restarted) ───────│   -> close, reconnect
//
// Receive reads as much as the socket has into one buffer and forwards every complete frame in place.
// Transmit appends length + frame to a send buffer; FlushTx writes it with one send(). Bytes the socket
// refuses stay queued (the loop waits for EPOLLOUT); a frame that does not fit the queue is dropped and
// counted, so a stalled guest cannot stall the switch.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Fabric.Switch.Datapath;
using Fabric.Switch.Flows;
using Fabric.Switch.Native;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Ports;

public sealed unsafe class StreamPort : SwitchPort
{
    private const int RxCapacity = 256 * 1024;
    private const int TxCapacity = 1024 * 1024;
    private const int MaxFrame = EthernetFrame.MaxLength;
    private readonly byte* _rx;
    private readonly byte* _tx;
    private int _rxUsed;
    private int _txStart;
    private int _txEnd;
    private int _fd = -1;
    private long _nextAttempt;
    private bool _disposed;

    public StreamPort(string name, string socketPath, PortKind kind = PortKind.Vm) : base(name, kind)
    {
        if (Encoding.UTF8.GetByteCount(socketPath) >= 108) throw new ArgumentException($"socket path '{socketPath}' is longer than 107 bytes");
        SocketPath = socketPath;
        _rx = (byte*)NativeMemory.Alloc(RxCapacity);
        _tx = (byte*)NativeMemory.Alloc(TxCapacity);
    }

    public string SocketPath { get; }
    public bool Connected => _fd >= 0;
    public long Connects;
    public long Disconnects;
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>Why the last connection attempt failed ("" when connected).</summary>
    public string LastError { get; private set; } = "not connected yet";

    protected internal override int PollFd => _fd;
    protected internal override bool WantsWritable => _fd >= 0 && _txEnd > _txStart;

    public override string Describe() => $"stream unix:{SocketPath} {(Connected ? "connected" : $"disconnected ({LastError})")}";

    /// <summary>Tries to connect now (also called by the timer until it succeeds).</summary>
    public bool TryConnect()
    {
        if (_fd >= 0 || _disposed) return _fd >= 0;
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            LastError = Libc.StrError(Libc.Errno);
            return false;
        }
        var addr = new Libc.SockAddrUn { Family = Libc.AF_UNIX };
        var path = Encoding.UTF8.GetBytes(SocketPath);
        for (int i = 0; i < path.Length; i++) addr.Path[i] = path[i];
        if (Libc.connect(fd, &addr, (uint)(2 + path.Length + 1)) < 0)
        {
            int errno = Libc.Errno;
            // A unix socket connect completes at once or fails; EINPROGRESS/EAGAIN means the listener's
            // backlog is full: treat like "not there yet" and retry.
            LastError = Libc.StrError(errno);
            Libc.close(fd);
            return false;
        }
        int sz = 1 << 20;
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &sz, 4);
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &sz, 4);
        _fd = fd;
        _rxUsed = 0;
        _txStart = _txEnd = 0;
        LastError = "";
        Connects++;
        return true;
    }

    private void Disconnect(string why)
    {
        if (_fd < 0) return;
        Libc.CloseQuietly(ref _fd);
        _rxUsed = 0;
        _txStart = _txEnd = 0;
        LastError = why;
        Disconnects++;
        _nextAttempt = 0;
    }

    protected internal override void OnTimer(long now, long frequency)
    {
        if (_fd >= 0 || _disposed || now < _nextAttempt) return;
        if (!TryConnect()) _nextAttempt = now + (long)(RetryInterval.TotalSeconds * frequency);
    }

    protected internal override void OnReadable(SwitchDatapath datapath)
    {
        // Bounded work per wake-up (fairness between ports): at most a few buffer-fulls.
        for (int round = 0; round < 4 && _fd >= 0; round++)
        {
            nint n = Libc.read(_fd, _rx + _rxUsed, (nuint)(RxCapacity - _rxUsed));
            if (n < 0)
            {
                int errno = Libc.Errno;
                if (errno == Libc.EAGAIN || errno == Libc.EINTR) return;
                Disconnect(Libc.StrError(errno));
                return;
            }
            if (n == 0)
            {
                Disconnect("peer closed the connection");
                return;
            }
            _rxUsed += (int)n;
            int pos = 0;
            while (_rxUsed - pos >= 4)
            {
                int len = (int)BinaryPrimitives.ReadUInt32BigEndian(new ReadOnlySpan<byte>(_rx + pos, 4));
                if (len > MaxFrame || len > RxCapacity - 4)
                {
                    // Not a frame length: the stream is out of step and cannot be resynchronised.
                    Counters.Malformed(FrameError.FrameTooLong, 0);
                    Disconnect($"bad frame length {len}");
                    return;
                }
                if (_rxUsed - pos - 4 < len) break;
                datapath.Process(this, new Span<byte>(_rx + pos + 4, len));
                pos += 4 + len;
            }
            if (pos > 0)
            {
                Buffer.MemoryCopy(_rx + pos, _rx, RxCapacity, _rxUsed - pos);
                _rxUsed -= pos;
            }
            if (n < RxCapacity / 2) return; // drained
        }
    }

    protected internal override bool Transmit(ReadOnlySpan<byte> frame, in OutputOp op, in OffloadInfo offload)
    {
        if (_fd < 0) return false;
        int need = 4 + frame.Length + (op.Encap == OutputEncap.Vlan ? VlanTag.Length : 0);
        if (_txEnd + need > TxCapacity)
        {
            if (_txStart > 0)
            {
                Buffer.MemoryCopy(_tx + _txStart, _tx, TxCapacity, _txEnd - _txStart);
                _txEnd -= _txStart;
                _txStart = 0;
            }
            if (_txEnd + need > TxCapacity) return false;
        }
        var dst = new Span<byte>(_tx + _txEnd + 4, need - 4);
        int len = op.Encap == OutputEncap.Vlan ? FrameEncap.PushVlan(frame, dst, op.Vlan) : Copy(frame, dst);
        BinaryPrimitives.WriteUInt32BigEndian(new Span<byte>(_tx + _txEnd, 4), (uint)len);
        _txEnd += 4 + len;
        return true;
    }

    private static int Copy(ReadOnlySpan<byte> frame, Span<byte> dst)
    {
        frame.CopyTo(dst);
        return frame.Length;
    }

    protected internal override void FlushTx()
    {
        while (_fd >= 0 && _txEnd > _txStart)
        {
            nint n = Libc.send(_fd, _tx + _txStart, (nuint)(_txEnd - _txStart), Libc.MSG_NOSIGNAL | Libc.MSG_DONTWAIT);
            if (n < 0)
            {
                int errno = Libc.Errno;
                if (errno == Libc.EINTR) continue;
                if (errno != Libc.EAGAIN) Disconnect(Libc.StrError(errno));
                return; // EAGAIN: the loop waits for EPOLLOUT
            }
            _txStart += (int)n;
        }
        if (_txStart == _txEnd) _txStart = _txEnd = 0;
    }

    protected internal override void OnWritable() => FlushTx();

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
