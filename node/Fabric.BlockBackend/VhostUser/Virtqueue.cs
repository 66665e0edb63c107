using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using Fabric.BlockBackend.Native;
using Fabric.Core.Io;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// One split virtqueue of a vhost-user-blk device: its ring addresses and eventfds as the front-end set
/// them, a worker thread that waits on the kick eventfd and takes requests from the avail ring, and the
/// completion path that writes status, used-ring entries and signals the call eventfd.
/// </summary>
/// <remarks>
/// Everything in guest memory is untrusted: ring indices, descriptor indices, addresses and lengths are
/// checked before use. A malformed descriptor chain fails that request (IOERR, or a zero-length used entry
/// when not even a status byte can be found); a ring that cannot be trusted any more (avail index jumping
/// past the ring, a head index outside the table) stops this queue and logs why: the device then needs a
/// reset, as the virtio spec allows. Neither affects other queues, other disks or the process.
///
/// Threads: the session's message thread changes configuration only while the worker is stopped. The
/// worker alone walks the avail ring. Completions come from any thread and serialise on <c>_usedLock</c>.
/// Memory ordering follows virtio 1.1 §2.6: read avail->idx (acquire) before the ring entries; publish
/// used entries before used->idx (release); a full barrier between publishing used->idx and reading
/// used_event/flags (and between writing avail_event and re-reading avail->idx).
/// </remarks>
internal sealed unsafe partial class Virtqueue
{
    private const ushort DescFlagNext = 1;
    private const ushort DescFlagWrite = 2;
    private const ushort DescFlagIndirect = 4;
    private const ushort AvailFlagNoInterrupt = 1;

    private readonly VhostUserBlkSession _session;
    private readonly object _usedLock = new();
    private readonly object _drainLock = new();
    private readonly ConcurrentBag<BlkRequest> _pool = new();

    // Configuration from the front-end (message thread; the worker is stopped while it changes).
    public int Size;
    public ulong DescAddress;
    public ulong AvailAddress;
    public ulong UsedAddress;
    public ulong LogGuestAddress;
    public uint AddressFlags;
    public bool AddressesSet;
    public ushort LastAvailIdx;
    public int KickFd = -1;
    public bool KickPolling;
    public int CallFd = -1;
    public int ErrFd = -1;
    public volatile bool Enabled;

    // Runtime.
    private nint _desc;
    private nint _avail;
    private nint _used;
    private ulong _usedGpa;
    private GuestMemoryMap? _ringMemory;
    private ushort _usedIdx;
    private ushort _usedIdxAtLastSignal;
    private Thread? _worker;
    private int _workerThreadId;
    private int _wakeFd = -1;
    private volatile bool _stopping;
    private bool _batching;
    private bool _signalPending;
    private int _inFlight;
    private InflightRegion.QueueView? _inflight;
    private ulong _inflightCounter = 1;
    private volatile bool _broken;
    private bool _startedOnce;

    public Virtqueue(VhostUserBlkSession session, int index)
    {
        _session = session;
        Index = index;
    }

    public int Index { get; }

    public bool Running => _worker is not null;

    public bool Broken => _broken;

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Starts processing when the front-end has given everything a ring needs. Returns the reason when
    /// the ring cannot be started (addresses outside guest memory); null when started or not yet complete.</summary>
    public string? TryStart()
    {
        if (Running || Size == 0 || !AddressesSet || (KickFd < 0 && !KickPolling))
        {
            return null;
        }
        var memory = _session.Memory;
        ulong descBytes = 16UL * (ulong)Size;
        ulong availBytes = 6UL + 2UL * (ulong)Size;
        ulong usedBytes = 6UL + 8UL * (ulong)Size;
        if (!memory.TryTranslateFrontEnd(DescAddress, descBytes, out var desc, out _) ||
            !memory.TryTranslateFrontEnd(AvailAddress, availBytes, out var avail, out _) ||
            !memory.TryTranslateFrontEnd(UsedAddress, usedBytes, out var used, out var usedGpa))
        {
            _broken = true;
            return $"queue {Index}: ring addresses (desc 0x{DescAddress:x}, avail 0x{AvailAddress:x}, used 0x{UsedAddress:x}) are not inside guest memory";
        }
        if ((DescAddress & 15) != 0 || (AvailAddress & 1) != 0 || (UsedAddress & 3) != 0)
        {
            _broken = true;
            return $"queue {Index}: ring addresses are misaligned";
        }
        memory.AddReference();
        lock (_usedLock)
        {
            _ringMemory?.Release();
            _ringMemory = memory;
            _desc = desc;
            _avail = avail;
            _used = used;
            _usedGpa = (AddressFlags & VhostUserProtocol.VringFlagLog) != 0 ? LogGuestAddress : usedGpa;
            if (!_startedOnce)
            {
                // SAFETY: used was translated for usedBytes >= 4 bytes inside a mapped region; offset 2 is used->idx.
                _usedIdx = Volatile.Read(ref *(ushort*)(_used + 2));
                _usedIdxAtLastSignal = _usedIdx;
            }
        }
        _broken = false;

        // A restart of a running ring (new kick fd, features, memory table, log flag) keeps its shadow state
        // and its requests in flight; only the first start reads the ring and recovers the inflight region.
        List<ushort>? resubmit = null;
        if (!_startedOnce)
        {
            _inflight = _session.Inflight?.ForQueue(Index, Size);
        }
        if (!_startedOnce && _inflight is { } view)
        {
            if (!view.IsInitialized)
            {
                view.Initialize();
                _inflightCounter = 1;
            }
            else
            {
                resubmit = view.Recover(_usedIdx, out _inflightCounter);
                // Every head still marked was taken after the last used entry: the avail ring position
                // continues after them, whatever base the front-end restored.
                LastAvailIdx = (ushort)(_usedIdx + resubmit.Count);
            }
        }

        _startedOnce = true;
        _stopping = false;
        _wakeFd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        _worker = new Thread(() => Run(resubmit)) { IsBackground = true, Name = $"vhost-blk q{Index}" };
        _worker.Start();
        return null;
    }

    /// <summary>Stops the worker (requests already taken keep running). Idempotent.</summary>
    public void Stop()
    {
        var worker = _worker;
        if (worker is null)
        {
            return;
        }
        _stopping = true;
        Libc.SignalEventFd(_wakeFd);
        worker.Join();
        _worker = null;
        Libc.Close(_wakeFd);
        _wakeFd = -1;
    }

    /// <summary>Waits until every request taken from this ring has completed (or was abandoned).</summary>
    public void Drain()
    {
        lock (_drainLock)
        {
            while (Volatile.Read(ref _inFlight) > 0)
            {
                Monitor.Wait(_drainLock, 100);
            }
        }
    }

    /// <summary>Wakes the worker so it looks at the ring again (after SET_VRING_ENABLE).</summary>
    public void Wake()
    {
        if (_wakeFd >= 0)
        {
            Libc.SignalEventFd(_wakeFd);
        }
    }

    /// <summary>Replaces the call eventfd; completions racing with this use one or the other, never a closed fd.</summary>
    public void SetCallFd(int fd)
    {
        int old;
        lock (_usedLock)
        {
            old = CallFd;
            CallFd = fd;
        }
        if (old >= 0)
        {
            Libc.Close(old);
        }
    }

    /// <summary>Forgets the ring (stopped and drained first by the caller); closes the eventfds.</summary>
    public void Reset()
    {
        if (KickFd >= 0)
        {
            Libc.Close(KickFd);
        }
        if (ErrFd >= 0)
        {
            Libc.Close(ErrFd);
        }
        SetCallFd(-1);
        lock (_usedLock)
        {
            _ringMemory?.Release();
            _ringMemory = null;
        }
        KickFd = ErrFd = -1;
        KickPolling = false;
        Size = 0;
        AddressesSet = false;
        LastAvailIdx = 0;
        Enabled = false;
        _inflight = null;
        _broken = false;
        _startedOnce = false;
    }

    // ---- worker -----------------------------------------------------------------------------------

    private void Run(List<ushort>? resubmit)
    {
        _workerThreadId = Environment.CurrentManagedThreadId;
        if (resubmit is { Count: > 0 })
        {
            VhostUserLog.Resubmitting(_session.Logger, _session.SocketPath, Index, resubmit.Count);
            _batching = true;
            foreach (var head in resubmit)
            {
                Take(head, markInflight: false);
            }
            EndBatch();
        }
        // A kick may have been consumed by the previous worker just before it stopped (restart for a new
        // kick fd, features, memory table or log flag): look at the ring once before waiting.
        if (Enabled && !_broken)
        {
            ProcessAvail();
        }
        var fds = stackalloc Libc.PollFd[2];
        while (!_stopping)
        {
            fds[0] = new Libc.PollFd { Fd = _wakeFd, Events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { Fd = KickFd, Events = Libc.POLLIN };
            int count = KickFd >= 0 ? 2 : 1;
            // SAFETY: fds points at 2 stack PollFd structs; count <= 2.
            int ready = Libc.Poll(fds, (nuint)count, KickFd >= 0 ? -1 : 1);
            if (ready < 0 && Libc.LastError != Libc.EINTR)
            {
                VhostUserLog.QueueBroken(_session.Logger, _session.SocketPath, Index, $"poll failed: {Libc.ErrorText(Libc.LastError)}");
                _broken = true;
                return;
            }
            if ((fds[0].ReturnedEvents & Libc.POLLIN) != 0)
            {
                Libc.DrainEventFd(_wakeFd);
            }
            if (count == 2 && (fds[1].ReturnedEvents & Libc.POLLIN) != 0)
            {
                Libc.DrainEventFd(KickFd);
            }
            if (count == 2 && (fds[1].ReturnedEvents & (Libc.POLLHUP | Libc.POLLERR | Libc.POLLNVAL)) != 0)
            {
                VhostUserLog.QueueBroken(_session.Logger, _session.SocketPath, Index, "the kick eventfd failed");
                _broken = true;
                return;
            }
            if (_stopping)
            {
                return;
            }
            if (Enabled && !_broken)
            {
                ProcessAvail();
            }
        }
    }

    private ushort* AvailIdx => (ushort*)(_avail + 2);

    private void ProcessAvail()
    {
        _batching = true;
        try
        {
            for (int rounds = 0; rounds < 1 << 16; rounds++)
            {
                // SAFETY: _avail was translated for 6 + 2 × Size bytes inside a region held by _ringMemory.
                ushort availIdx = Volatile.Read(ref *AvailIdx);
                ushort pending = (ushort)(availIdx - LastAvailIdx);
                if (pending > Size)
                {
                    Break($"avail index {availIdx} is {pending} entries ahead of {LastAvailIdx} on a ring of {Size}");
                    return;
                }
                for (int i = 0; i < pending && !_broken; i++)
                {
                    // SAFETY: LastAvailIdx % Size < Size, so the entry lies inside the avail ring (4 + 2 × Size bytes).
                    ushort head = Volatile.Read(ref *(ushort*)(_avail + 4 + 2 * (LastAvailIdx % Size)));
                    LastAvailIdx++;
                    Take(head, markInflight: true);
                }
                if (_broken)
                {
                    return;
                }
                if (!_session.EventIdx)
                {
                    return;
                }
                // Tell the driver where to kick next, then look again: it may have added entries meanwhile.
                // SAFETY: used ring is 6 + 8 × Size bytes; avail_event sits at 4 + 8 × Size.
                Volatile.Write(ref *(ushort*)(_used + 4 + 8 * Size), LastAvailIdx);
                _session.MarkDirty(_usedGpa + 4 + 8 * (ulong)Size, 2);
                Interlocked.MemoryBarrier();
                if (Volatile.Read(ref *AvailIdx) == LastAvailIdx)
                {
                    return;
                }
            }
        }
        finally
        {
            EndBatch();
        }
    }

    private void EndBatch()
    {
        _batching = false;
        if (_signalPending)
        {
            _signalPending = false;
            lock (_usedLock)
            {
                SignalIfNeeded();
            }
        }
    }

    private void Break(string reason)
    {
        _broken = true;
        VhostUserLog.QueueBroken(_session.Logger, _session.SocketPath, Index, reason);
    }

    private void Take(ushort head, bool markInflight)
    {
        if (head >= Size)
        {
            Break($"avail ring names descriptor head {head} on a ring of {Size}");
            return;
        }
        if (markInflight && _inflight is { } view)
        {
            view.MarkTaken(head, _inflightCounter++);
        }
        Interlocked.Increment(ref _inFlight);
        if (!_pool.TryTake(out var request))
        {
            request = new BlkRequest();
        }
        var memory = _session.Memory;
        memory.AddReference();
        request.Reset(head, memory, _session);
        string? error = ParseChain(request);
        if (error is not null)
        {
            VhostUserLog.RequestFailed(_session.Logger, _session.SocketPath, Index, head, error);
            uint length = 0;
            if (request.WritableBytes > 0)
            {
                request.WriteStatus(VirtioBlk.StatusIoErr);
                length = 1;
            }
            Complete(request, length);
            return;
        }
        _ = ExecuteAsync(request);
    }

    /// <summary>Walks and translates a descriptor chain, bounded by the table size, with every check the spec asks for.</summary>
    private string? ParseChain(BlkRequest request)
    {
        var memory = request.Memory;
        nint table = _desc;
        int tableSize = Size;
        bool indirect = false;
        ushort index = request.Head;
        int visited = 0;
        while (true)
        {
            if (index >= tableSize)
            {
                return $"descriptor index {index} is outside a table of {tableSize}";
            }
            if (++visited > tableSize)
            {
                return "descriptor chain loops or is longer than its table";
            }
            // SAFETY: index < tableSize and the table was translated for 16 × tableSize bytes.
            byte* d = (byte*)(table + 16 * index);
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(d, 8));
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(d + 8, 4));
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(d + 12, 2));
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(d + 14, 2));

            if ((flags & DescFlagIndirect) != 0)
            {
                if (!_session.IndirectDesc)
                {
                    return "indirect descriptor but VIRTIO_RING_F_INDIRECT_DESC was not negotiated";
                }
                if (indirect)
                {
                    return "indirect descriptor inside an indirect table";
                }
                if ((flags & DescFlagNext) != 0)
                {
                    return "indirect descriptor also has NEXT set";
                }
                if (length == 0 || length % 16 != 0 || length / 16 > 32768)
                {
                    return $"indirect table length {length} is not a multiple of 16 up to 32768 entries";
                }
                if (!memory.TryTranslateGuest(addr, length, out var host, out var contiguous) || contiguous < length)
                {
                    return $"indirect table 0x{addr:x}+{length} is not inside guest memory";
                }
                table = host;
                tableSize = (int)(length / 16);
                indirect = true;
                index = 0;
                visited = 0;
                continue;
            }

            bool writable = (flags & DescFlagWrite) != 0;
            if (!writable && request.WritableBytes > 0)
            {
                return "a device-readable descriptor follows a device-writable one";
            }
            ulong gpa = addr;
            ulong left = length;
            if (gpa + left < gpa)
            {
                return $"descriptor 0x{addr:x}+{length} wraps around the address space";
            }
            while (left > 0)
            {
                if (!memory.TryTranslateGuest(gpa, left, out var host, out var contiguous))
                {
                    return $"descriptor 0x{addr:x}+{length} points outside guest memory";
                }
                if (!request.Add(host, gpa, (uint)contiguous, writable))
                {
                    return $"descriptor chain has more than {BlkRequest.MaxSegments} segments";
                }
                gpa += contiguous;
                left -= contiguous;
            }
            if (request.ReadableBytes + request.WritableBytes > (ulong)_session.MaxRequestBytes + 4096)
            {
                return $"request larger than {_session.MaxRequestBytes} bytes";
            }
            if ((flags & DescFlagNext) == 0)
            {
                return null;
            }
            index = next;
        }
    }

    private void Complete(BlkRequest r, uint usedLength)
    {
        lock (_usedLock)
        {
            if (_ringMemory is not null)
            {
                _inflight?.BeforeUsed(r.Head);
                ushort slot = (ushort)(_usedIdx % Size);
                // SAFETY: slot < Size; the used ring was translated for 6 + 8 × Size bytes and _ringMemory keeps it mapped.
                uint* elem = (uint*)(_used + 4 + 8 * slot);
                elem[0] = r.Head;
                elem[1] = usedLength;
                _session.MarkDirty(_usedGpa + 4 + 8 * (ulong)slot, 8);
                _usedIdx++;
                Volatile.Write(ref *(ushort*)(_used + 2), _usedIdx);
                _session.MarkDirty(_usedGpa + 2, 2);
                _inflight?.AfterUsed(r.Head, _usedIdx);
                if (_batching && Environment.CurrentManagedThreadId == _workerThreadId)
                {
                    _signalPending = true;
                }
                else
                {
                    SignalIfNeeded();
                }
            }
        }
        Finish(r);
    }

    /// <summary>Called with _usedLock held: signals the call eventfd unless the driver suppressed it.</summary>
    private void SignalIfNeeded()
    {
        if (CallFd < 0 || _ringMemory is null || _usedIdx == _usedIdxAtLastSignal)
        {
            return;
        }
        Interlocked.MemoryBarrier();
        bool notify;
        if (_session.EventIdx)
        {
            // SAFETY: used_event sits at 4 + 2 × Size in the avail ring, translated for 6 + 2 × Size bytes.
            ushort usedEvent = Volatile.Read(ref *(ushort*)(_avail + 4 + 2 * Size));
            notify = (ushort)(_usedIdx - usedEvent - 1) < (ushort)(_usedIdx - _usedIdxAtLastSignal);
        }
        else
        {
            // SAFETY: avail->flags is the first u16 of the translated avail ring.
            notify = (Volatile.Read(ref *(ushort*)_avail) & AvailFlagNoInterrupt) == 0;
        }
        _usedIdxAtLastSignal = _usedIdx;
        if (notify)
        {
            Libc.SignalEventFd(CallFd);
        }
    }

    private void Finish(BlkRequest r)
    {
        r.Memory.Release();
        r.Memory = GuestMemoryMap.Empty;
        r.Session = null;
        _pool.Add(r);
        if (Interlocked.Decrement(ref _inFlight) == 0)
        {
            lock (_drainLock)
            {
                Monitor.PulseAll(_drainLock);
            }
        }
    }

}
