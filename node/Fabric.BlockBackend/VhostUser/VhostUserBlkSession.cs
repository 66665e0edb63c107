using System.Buffers.Binary;
using Fabric.BlockBackend.Native;
using Fabric.Core.Io;
using Microsoft.Extensions.Logging;
using static Fabric.BlockBackend.VhostUser.VhostUserProtocol;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// One front-end connection (one QEMU) to a vhost-user-blk socket: reads messages, keeps the negotiated
/// device state, and owns the virtqueues. Runs on the server's session thread until the front-end hangs up
/// or breaks the protocol; then every queue is stopped and drained, and every fd and mapping released.
/// </summary>
/// <remarks>
/// <code>
///   QEMU                                        backend
///    | GET_FEATURES / SET_FEATURES  ----------->|  virtio-blk + EVENT_IDX + INDIRECT + LOG_ALL + PROTOCOL_FEATURES
///    | GET/SET_PROTOCOL_FEATURES    ----------->|  MQ, LOG_SHMFD, REPLY_ACK, CONFIG, INFLIGHT_SHMFD, RESET_DEVICE
///    | GET_QUEUE_NUM, GET_CONFIG    ----------->|  capacity, blk_size, seg_max, num_queues, discard limits
///    | GET_INFLIGHT_FD (first start) / SET_INFLIGHT_FD (reconnect) ---> memfd of in-flight heads
///    | SET_MEM_TABLE + n fds        ----------->|  mmap guest RAM
///    | per queue: SET_VRING_NUM/ADDR/BASE, SET_VRING_CALL(fd), SET_VRING_KICK(fd) -> worker starts
///    | SET_VRING_ENABLE 1           ----------->|  process avail ring; kick/call eventfds from here on
///    | ... (migration: SET_FEATURES +LOG_ALL, SET_LOG_BASE(fd), SET_VRING_ADDR with LOG flag)
///    | GET_VRING_BASE               ----------->|  stop, drain in-flight, reply last avail index
/// </code>
/// Any message with a wrong size, an index out of range or a state that makes no sense closes this session
/// with the reason logged; the server then accepts the next connection (QEMU's reconnect).
/// </remarks>
internal sealed class VhostUserBlkSession : IDisposable
{
    private const ulong OfferedProtocolFeatures =
        1UL << ProtocolMq | 1UL << ProtocolLogShmfd | 1UL << ProtocolReplyAck | 1UL << ProtocolConfig |
        1UL << ProtocolInflightShmfd | 1UL << ProtocolResetDevice;

    private readonly UnixFdChannel _channel;
    private readonly VhostUserBlkOptions _options;
    private readonly Virtqueue[] _queues;
    private readonly CancellationTokenSource _cancel = new();
    private readonly ulong _offeredFeatures;
    private readonly byte[] _config;
    private ulong _features;
    private ulong _protocolFeatures;
    private volatile GuestMemoryMap _memory = GuestMemoryMap.Empty;
    private DirtyLog? _dirtyLogMapping;
    private volatile DirtyLog? _dirtyLog;

    public VhostUserBlkSession(int fd, IBlockVolume volume, VhostUserBlkOptions options, string socketPath, ILogger logger)
    {
        _channel = new UnixFdChannel(fd);
        Volume = volume;
        _options = options;
        SocketPath = socketPath;
        Logger = logger;
        ReadOnly = options.ReadOnly || volume.ReadOnly;
        SerialId = System.Text.Encoding.ASCII.GetBytes(options.SerialId ?? volume.Name);
        _queues = new Virtqueue[options.NumQueues];
        for (int i = 0; i < _queues.Length; i++)
        {
            _queues[i] = new Virtqueue(this, i);
        }
        _offeredFeatures =
            1UL << VirtioBlk.FeatureSegMax | 1UL << VirtioBlk.FeatureBlkSize |
            // No volatile cache, no F_FLUSH: the guest then runs the disk write-through (Linux shows
            // queue/write_cache "write through") and sends no flushes. A FLUSH sent anyway is still served.
            (volume.VolatileWriteCache ? 1UL << VirtioBlk.FeatureFlush : 0) |
            1UL << VirtioBlk.FeatureDiscard | 1UL << VirtioBlk.FeatureWriteZeroes |
            (options.NumQueues > 1 ? 1UL << VirtioBlk.FeatureMq : 0) |
            (ReadOnly ? 1UL << VirtioBlk.FeatureRo : 0) |
            1UL << FeatureIndirectDesc | 1UL << FeatureEventIdx | 1UL << FeatureVersion1 |
            1UL << FeatureProtocolFeatures | 1UL << FeatureLogAll;
        _config = VirtioBlk.BuildConfig(volume.SizeBytes, volume.LogicalBlockSize, options.NumQueues);
    }

    // State the virtqueues read.
    public IBlockVolume Volume { get; }
    public ILogger Logger { get; }
    public string SocketPath { get; }
    public bool ReadOnly { get; }
    public byte[] SerialId { get; }
    public int MaxRequestBytes => _options.MaxRequestBytes;
    public CancellationToken Cancellation => _cancel.Token;
    public GuestMemoryMap Memory => _memory;
    /// <summary>Marks guest pages written by this backend in the current dirty log (no-op unless migrating).</summary>
    public void MarkDirty(ulong gpa, ulong length)
    {
        while (true)
        {
            var log = _dirtyLog;
            if (log is null)
            {
                return;
            }
            if (log.TryAcquire())
            {
                try
                {
                    log.MarkDirty(gpa, length);
                }
                finally
                {
                    log.Release();
                }
                return;
            }
            // Replaced and released between the read and the acquire: the field already holds the new one.
        }
    }
    public InflightRegion? Inflight { get; private set; }
    public bool EventIdx => (_features & 1UL << FeatureEventIdx) != 0;
    public bool IndirectDesc => (_features & 1UL << FeatureIndirectDesc) != 0;

    /// <summary>For tests: the queues (read-only use).</summary>
    internal IReadOnlyList<Virtqueue> Queues => _queues;

    /// <summary>Ends a blocked <see cref="Run"/> from another thread.</summary>
    public void Shutdown() => _channel.Shutdown();

    /// <summary>Serves messages until the front-end hangs up (null) or breaks the protocol (the reason).</summary>
    public string? Run()
    {
        var header = new byte[HeaderBytes];
        var payload = new byte[MaxPayloadBytes];
        var fds = new List<int>(MaxFdsPerMessage);
        try
        {
            while (true)
            {
                fds.Clear();
                int got = _channel.ReadExactly(header, fds, out var error);
                if (got == 0)
                {
                    return null;
                }
                if (got < 0)
                {
                    return error;
                }
                uint request = BinaryPrimitives.ReadUInt32LittleEndian(header);
                uint flags = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
                uint size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
                if ((flags & FlagVersionMask) != FlagVersion)
                {
                    return $"{Name(request)}: unsupported protocol version in flags 0x{flags:x}";
                }
                if (size > MaxPayloadBytes)
                {
                    return $"{Name(request)}: payload size {size} exceeds {MaxPayloadBytes}";
                }
                if (size > 0 && _channel.ReadExactly(payload.AsSpan(0, (int)size), fds, out error) < 0)
                {
                    return error;
                }
                try
                {
                    Handle(request, flags, payload.AsSpan(0, (int)size), fds);
                }
                catch (VhostUserProtocolException e)
                {
                    return e.Message;
                }
                finally
                {
                    foreach (int fd in fds)
                    {
                        if (fd >= 0)
                        {
                            Libc.Close(fd); // not taken by the handler
                        }
                    }
                }
            }
        }
        finally
        {
            TearDown();
        }
    }

    private static void ExpectSize(uint request, ReadOnlySpan<byte> payload, int expected)
    {
        if (payload.Length != expected)
        {
            throw new VhostUserProtocolException($"{Name(request)}: payload of {payload.Length} bytes, expected {expected}");
        }
    }

    private static int TakeFd(uint request, List<int> fds)
    {
        if (fds.Count != 1)
        {
            throw new VhostUserProtocolException($"{Name(request)}: expected 1 file descriptor, got {fds.Count}");
        }
        int fd = fds[0];
        fds[0] = -1;
        return fd;
    }

    private Virtqueue QueueAt(uint request, uint index)
    {
        if (index >= _queues.Length)
        {
            throw new VhostUserProtocolException($"{Name(request)}: vring index {index} but the device has {_queues.Length} queues");
        }
        return _queues[index];
    }

    private void Handle(uint request, uint flags, ReadOnlySpan<byte> p, List<int> fds)
    {
        bool replyAck = (flags & FlagNeedReply) != 0 && (_protocolFeatures & 1UL << ProtocolReplyAck) != 0;
        VhostUserLog.Trace(Logger, SocketPath, $"{Name(request)} ({p.Length} bytes, {fds.Count} fds)");
        switch (request)
        {
            case GetFeatures:
                ExpectSize(request, p, 0);
                ReplyU64(request, _offeredFeatures);
                return;
            case SetFeatures:
            {
                ExpectSize(request, p, 8);
                ulong features = BinaryPrimitives.ReadUInt64LittleEndian(p);
                if ((features & ~_offeredFeatures) != 0)
                {
                    throw new VhostUserProtocolException($"SET_FEATURES: 0x{features:x} includes features not offered (0x{features & ~_offeredFeatures:x})");
                }
                bool logging = (features & 1UL << FeatureLogAll) != 0;
                WithQueuesStopped(() =>
                {
                    _features = features;
                    _dirtyLog = logging ? _dirtyLogMapping : null;
                });
                break;
            }
            case GetProtocolFeatures:
                ExpectSize(request, p, 0);
                ReplyU64(request, OfferedProtocolFeatures);
                return;
            case SetProtocolFeatures:
            {
                ExpectSize(request, p, 8);
                ulong features = BinaryPrimitives.ReadUInt64LittleEndian(p);
                if ((features & ~OfferedProtocolFeatures) != 0)
                {
                    throw new VhostUserProtocolException($"SET_PROTOCOL_FEATURES: 0x{features:x} includes features not offered");
                }
                _protocolFeatures = features;
                break;
            }
            case SetOwner:
                ExpectSize(request, p, 0);
                break;
            case ResetOwner:
            case ResetDevice:
                ExpectSize(request, p, 0);
                ResetQueues();
                _features = 0;
                break;
            case GetQueueNum:
                ExpectSize(request, p, 0);
                ReplyU64(request, (ulong)_queues.Length);
                return;
            case GetMaxMemSlots:
                ExpectSize(request, p, 0);
                ReplyU64(request, MaxMemoryRegions);
                return;
            case SetMemTable:
                SetMemoryTable(p, fds);
                break;
            case SetLogBase:
            {
                ExpectSize(request, p, 16);
                int fd = TakeFd(request, fds);
                var log = DirtyLog.Map(fd, BinaryPrimitives.ReadUInt64LittleEndian(p), BinaryPrimitives.ReadUInt64LittleEndian(p[8..]), out var error)
                          ?? throw new VhostUserProtocolException($"SET_LOG_BASE: {error}");
                var old = _dirtyLogMapping;
                WithQueuesStopped(() =>
                {
                    _dirtyLogMapping = log;
                    _dirtyLog = (_features & 1UL << FeatureLogAll) != 0 ? log : null;
                });
                old?.Dispose();
                ReplyU64(request, 0); // QEMU waits for this reply when LOG_SHMFD is negotiated
                return;
            }
            case SetLogFd:
                ExpectSize(request, p, 0);
                Libc.Close(TakeFd(request, fds)); // only for the log-eventfd notification, which we never send
                break;
            case SetVringNum:
            {
                ExpectSize(request, p, 8);
                var q = QueueAt(request, BinaryPrimitives.ReadUInt32LittleEndian(p));
                uint num = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);
                if (num == 0 || num > 32768 || (num & (num - 1)) != 0)
                {
                    throw new VhostUserProtocolException($"SET_VRING_NUM: queue size {num} is not a power of two up to 32768");
                }
                if (q.Running)
                {
                    throw new VhostUserProtocolException($"SET_VRING_NUM: queue {q.Index} is running");
                }
                q.Size = (int)num;
                break;
            }
            case SetVringAddr:
            {
                ExpectSize(request, p, 40);
                var q = QueueAt(request, BinaryPrimitives.ReadUInt32LittleEndian(p));
                uint addrFlags = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);
                bool wasRunning = q.Running;
                q.Stop();
                q.AddressFlags = addrFlags;
                q.DescAddress = BinaryPrimitives.ReadUInt64LittleEndian(p[8..]);
                q.UsedAddress = BinaryPrimitives.ReadUInt64LittleEndian(p[16..]);
                q.AvailAddress = BinaryPrimitives.ReadUInt64LittleEndian(p[24..]);
                q.LogGuestAddress = BinaryPrimitives.ReadUInt64LittleEndian(p[32..]);
                q.AddressesSet = true;
                if (wasRunning)
                {
                    Start(q);
                }
                break;
            }
            case SetVringBase:
            {
                ExpectSize(request, p, 8);
                var q = QueueAt(request, BinaryPrimitives.ReadUInt32LittleEndian(p));
                uint num = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);
                if (num > ushort.MaxValue)
                {
                    throw new VhostUserProtocolException($"SET_VRING_BASE: {num} is not a split-ring index");
                }
                if (q.Running)
                {
                    throw new VhostUserProtocolException($"SET_VRING_BASE: queue {q.Index} is running");
                }
                q.LastAvailIdx = (ushort)num;
                break;
            }
            case GetVringBase:
            {
                ExpectSize(request, p, 8);
                uint index = BinaryPrimitives.ReadUInt32LittleEndian(p);
                var q = QueueAt(request, index);
                q.Stop();
                q.Drain();
                ushort last = q.LastAvailIdx;
                q.Reset();
                Span<byte> reply = stackalloc byte[8];
                BinaryPrimitives.WriteUInt32LittleEndian(reply, index);
                BinaryPrimitives.WriteUInt32LittleEndian(reply[4..], last);
                Reply(request, reply);
                return;
            }
            case SetVringKick:
            case SetVringCall:
            case SetVringErr:
            {
                ExpectSize(request, p, 8);
                ulong value = BinaryPrimitives.ReadUInt64LittleEndian(p);
                if ((value & ~(VringIndexMask | VringNoFdMask)) != 0)
                {
                    throw new VhostUserProtocolException($"{Name(request)}: unknown bits in 0x{value:x}");
                }
                var q = QueueAt(request, (uint)(value & VringIndexMask));
                bool noFd = (value & VringNoFdMask) != 0;
                int fd = noFd ? -1 : TakeFd(request, fds);
                if (noFd && fds.Count != 0)
                {
                    throw new VhostUserProtocolException($"{Name(request)}: 'no fd' flag set but {fds.Count} fds attached");
                }
                if (request == SetVringCall)
                {
                    q.SetCallFd(fd);
                }
                else if (request == SetVringErr)
                {
                    if (q.ErrFd >= 0)
                    {
                        Libc.Close(q.ErrFd);
                    }
                    q.ErrFd = fd;
                }
                else
                {
                    q.Stop();
                    if (q.KickFd >= 0)
                    {
                        Libc.Close(q.KickFd);
                    }
                    q.KickFd = fd;
                    q.KickPolling = noFd;
                    if ((_features & 1UL << FeatureProtocolFeatures) == 0)
                    {
                        q.Enabled = true; // without PROTOCOL_FEATURES a ring starts enabled
                    }
                    Start(q);
                }
                break;
            }
            case SetVringEnable:
            {
                ExpectSize(request, p, 8);
                var q = QueueAt(request, BinaryPrimitives.ReadUInt32LittleEndian(p));
                uint enable = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);
                if (enable > 1)
                {
                    throw new VhostUserProtocolException($"SET_VRING_ENABLE: {enable} is neither 0 nor 1");
                }
                q.Enabled = enable == 1;
                q.Wake();
                break;
            }
            case GetConfig:
            case SetConfig:
            {
                if (p.Length < 12)
                {
                    throw new VhostUserProtocolException($"{Name(request)}: payload of {p.Length} bytes is shorter than its 12-byte header");
                }
                uint offset = BinaryPrimitives.ReadUInt32LittleEndian(p);
                uint size = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);
                if (p.Length != 12 + size || size > 256 || offset > 256 || offset + size > 256)
                {
                    throw new VhostUserProtocolException($"{Name(request)}: offset {offset} size {size} in a {p.Length}-byte payload");
                }
                if (request == GetConfig)
                {
                    var reply = new byte[12 + size];
                    p[..12].CopyTo(reply);
                    _config.AsSpan((int)offset, (int)size).CopyTo(reply.AsSpan(12));
                    Reply(request, reply);
                    return;
                }
                break; // SET_CONFIG: nothing guest-writable in our config (no CONFIG_WCE); accepted and ignored
            }
            case GetInflightFd:
            {
                RequireQueuesIdle(request);
                if (p.Length < 20)
                {
                    throw new VhostUserProtocolException($"GET_INFLIGHT_FD: payload of {p.Length} bytes, expected 24");
                }
                int numQueues = BinaryPrimitives.ReadUInt16LittleEndian(p[16..]);
                int queueSize = BinaryPrimitives.ReadUInt16LittleEndian(p[18..]);
                var region = InflightRegion.Create(numQueues, queueSize, out int fd, out var error)
                             ?? throw new VhostUserProtocolException($"GET_INFLIGHT_FD: {error}");
                Inflight?.Dispose();
                Inflight = region;
                var reply = new byte[p.Length];
                BinaryPrimitives.WriteUInt64LittleEndian(reply, region.SizeBytes);
                BinaryPrimitives.WriteUInt64LittleEndian(reply.AsSpan(8), 0);
                BinaryPrimitives.WriteUInt16LittleEndian(reply.AsSpan(16), (ushort)numQueues);
                BinaryPrimitives.WriteUInt16LittleEndian(reply.AsSpan(18), (ushort)queueSize);
                Reply(request, reply, fd);
                Libc.Close(fd);
                return;
            }
            case SetInflightFd:
            {
                RequireQueuesIdle(request);
                if (p.Length < 20)
                {
                    throw new VhostUserProtocolException($"SET_INFLIGHT_FD: payload of {p.Length} bytes, expected 24");
                }
                int fd = TakeFd(request, fds);
                var region = InflightRegion.Map(fd, BinaryPrimitives.ReadUInt64LittleEndian(p), BinaryPrimitives.ReadUInt64LittleEndian(p[8..]),
                                 BinaryPrimitives.ReadUInt16LittleEndian(p[16..]), BinaryPrimitives.ReadUInt16LittleEndian(p[18..]), out var error)
                             ?? throw new VhostUserProtocolException($"SET_INFLIGHT_FD: {error}");
                Inflight?.Dispose();
                Inflight = region;
                break;
            }
            default:
                throw new VhostUserProtocolException($"{Name(request)} is not supported by this backend");
        }
        if (replyAck)
        {
            ReplyU64(request, 0);
        }
    }

    /// <summary>The inflight region is read by running queues and their requests: replacing it under them
    /// would leave pointers into an unmapped region. QEMU only sends these before the rings start.</summary>
    private void RequireQueuesIdle(uint request)
    {
        if (_queues.Any(q => q.Running || q.InFlight > 0))
        {
            throw new VhostUserProtocolException($"{Name(request)} while queues are running");
        }
    }

    private void Start(Virtqueue q)
    {
        var error = q.TryStart();
        if (error is not null)
        {
            VhostUserLog.QueueBroken(Logger, SocketPath, q.Index, error);
        }
    }

    private void WithQueuesStopped(Action change)
    {
        var running = _queues.Where(q => q.Running).ToList();
        foreach (var q in running)
        {
            q.Stop();
        }
        change();
        foreach (var q in running)
        {
            Start(q);
        }
    }

    private void SetMemoryTable(ReadOnlySpan<byte> p, List<int> fds)
    {
        if (p.Length < 8)
        {
            throw new VhostUserProtocolException($"SET_MEM_TABLE: payload of {p.Length} bytes");
        }
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(p);
        if (count == 0 || count > MaxMemoryRegions)
        {
            throw new VhostUserProtocolException($"SET_MEM_TABLE: {count} regions (1 to {MaxMemoryRegions})");
        }
        if (p.Length != 8 + 32 * count)
        {
            throw new VhostUserProtocolException($"SET_MEM_TABLE: payload of {p.Length} bytes for {count} regions, expected {8 + 32 * count}");
        }
        if (fds.Count != count)
        {
            throw new VhostUserProtocolException($"SET_MEM_TABLE: {count} regions but {fds.Count} file descriptors");
        }
        var table = new (ulong, ulong, ulong, ulong)[count];
        for (int i = 0; i < count; i++)
        {
            var r = p.Slice(8 + 32 * i, 32);
            table[i] = (BinaryPrimitives.ReadUInt64LittleEndian(r), BinaryPrimitives.ReadUInt64LittleEndian(r[8..]),
                        BinaryPrimitives.ReadUInt64LittleEndian(r[16..]), BinaryPrimitives.ReadUInt64LittleEndian(r[24..]));
        }
        var taken = fds.ToArray();
        for (int i = 0; i < fds.Count; i++)
        {
            fds[i] = -1;
        }
        var map = GuestMemoryMap.Map(table, taken, out var error) ?? throw new VhostUserProtocolException($"SET_MEM_TABLE: {error}");
        var old = _memory;
        WithQueuesStopped(() => _memory = map);
        if (!ReferenceEquals(old, GuestMemoryMap.Empty))
        {
            old.Release();
        }
    }

    private void ResetQueues()
    {
        foreach (var q in _queues)
        {
            q.Stop();
        }
        foreach (var q in _queues)
        {
            q.Drain();
            q.Reset();
        }
    }

    private void ReplyU64(uint request, ulong value)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, value);
        Reply(request, payload);
    }

    private void Reply(uint request, ReadOnlySpan<byte> payload, int fd = -1)
    {
        var message = new byte[HeaderBytes + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(message, request);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(4), FlagVersion | FlagReply);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), (uint)payload.Length);
        payload.CopyTo(message.AsSpan(HeaderBytes));
        if (!_channel.Send(message, fd))
        {
            throw new VhostUserProtocolException($"{Name(request)}: could not send the reply (front-end gone)");
        }
    }

    private void TearDown()
    {
        foreach (var q in _queues)
        {
            q.Stop();
        }
        // Requests still running were taken from the rings: cancel what the volume lets us cancel, wait
        // for all, and leave the abandoned ones marked in the inflight region for the next session.
        _cancel.Cancel();
        foreach (var q in _queues)
        {
            q.Drain();
            q.Reset();
        }
        var memory = _memory;
        _memory = GuestMemoryMap.Empty;
        if (!ReferenceEquals(memory, GuestMemoryMap.Empty))
        {
            memory.Release();
        }
        _dirtyLog = null;
        _dirtyLogMapping?.Dispose();
        _dirtyLogMapping = null;
        Inflight?.Dispose();
        Inflight = null;
    }

    public void Dispose()
    {
        _channel.Dispose();
        _cancel.Dispose();
    }
}
