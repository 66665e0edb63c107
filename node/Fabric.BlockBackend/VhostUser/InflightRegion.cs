using Fabric.BlockBackend.Native;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// Shared memory (INFLIGHT_SHMFD) where the backend records which descriptor heads it has taken from the
/// avail ring and not yet returned. QEMU keeps the memfd across backend restarts and hands it back with
/// SET_INFLIGHT_FD, so a restarted backend resubmits exactly the requests that were in flight, in the
/// order they were taken, even though this backend completes requests out of order.
/// </summary>
/// <remarks>
/// Layout per queue (our own: only the backend interprets it; QEMU only stores it), 64-byte aligned regions:
/// <code>
///   u64 features | u16 version | u16 desc_num | u16 last_batch_head | u16 used_idx
///   desc[desc_num]: u8 inflight | u8 pad[5] | u16 next | u64 counter
/// </code>
/// Completion protocol (crash-safe): last_batch_head = head; write used elem; publish used->idx;
/// desc[head].inflight = 0; used_idx = new used idx. After a crash between publishing used->idx and
/// clearing the flag, used_idx != used->idx tells recovery to clear last_batch_head's flag.
/// </remarks>
internal sealed unsafe class InflightRegion : IDisposable
{
    public const ushort Version = 1;
    private const int HeaderBytes = 16;
    private const int DescBytes = 16;

    private readonly nint _base;
    private readonly nuint _length;
    private readonly nint _start;

    private InflightRegion(nint mapBase, nuint length, nint start, int numQueues, int queueSize)
    {
        _base = mapBase;
        _length = length;
        _start = start;
        NumQueues = numQueues;
        QueueSize = queueSize;
    }

    public int NumQueues { get; }

    public int QueueSize { get; }

    public ulong SizeBytes => (ulong)NumQueues * QueueRegionBytes(QueueSize);

    public static ulong QueueRegionBytes(int queueSize) => ((ulong)(HeaderBytes + DescBytes * queueSize) + 63) & ~63UL;

    /// <summary>Creates a zeroed region in a new memfd; the caller sends <paramref name="fd"/> and closes it.</summary>
    public static InflightRegion? Create(int numQueues, int queueSize, out int fd, out string? error)
    {
        fd = -1;
        error = null;
        if (numQueues is < 1 or > VhostUserProtocol.MaxQueues || queueSize is < 1 or > 32768)
        {
            error = $"inflight region for {numQueues} queues of {queueSize} is not plausible";
            return null;
        }
        ulong size = (ulong)numQueues * QueueRegionBytes(queueSize);
        fd = Libc.MemfdCreate("fabric-vhost-inflight", Libc.MFD_CLOEXEC);
        if (fd < 0)
        {
            error = $"memfd_create failed: {Libc.ErrorText(Libc.LastError)}";
            return null;
        }
        if (Libc.Ftruncate(fd, (long)size) != 0)
        {
            error = $"ftruncate of the inflight memfd failed: {Libc.ErrorText(Libc.LastError)}";
            Libc.Close(fd);
            fd = -1;
            return null;
        }
        nint mapped = Libc.Mmap(0, (nuint)size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
        if (mapped == Libc.MapFailed)
        {
            error = $"mmap of the inflight memfd failed: {Libc.ErrorText(Libc.LastError)}";
            Libc.Close(fd);
            fd = -1;
            return null;
        }
        return new InflightRegion(mapped, (nuint)size, mapped, numQueues, queueSize);
    }

    /// <summary>Maps a region handed back by QEMU. Closes the fd.</summary>
    public static InflightRegion? Map(int fd, ulong sizeBytes, ulong offset, int numQueues, int queueSize, out string? error)
    {
        error = null;
        try
        {
            if (numQueues is < 1 or > VhostUserProtocol.MaxQueues || queueSize is < 1 or > 32768 ||
                sizeBytes < (ulong)numQueues * QueueRegionBytes(queueSize) || sizeBytes > (1UL << 30) || offset > (1UL << 30))
            {
                error = $"inflight region (size {sizeBytes}, {numQueues} queues of {queueSize}) does not match its layout";
                return null;
            }
            nuint length = (nuint)(sizeBytes + offset);
            nint mapped = Libc.Mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
            if (mapped == Libc.MapFailed)
            {
                error = $"mmap of the inflight region failed: {Libc.ErrorText(Libc.LastError)}";
                return null;
            }
            return new InflightRegion(mapped, length, mapped + (nint)offset, numQueues, queueSize);
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>The view of one queue, or null when the queue does not fit the region's shape.</summary>
    public QueueView? ForQueue(int index, int queueSize) =>
        index < NumQueues && queueSize == QueueSize ? new QueueView(_start + (nint)((ulong)index * QueueRegionBytes(QueueSize)), queueSize) : null;

    public void Dispose() => Libc.Munmap(_base, _length);

    /// <summary>One queue's part of the region. All accesses stay below 16 + 16 × queueSize bytes.</summary>
    public readonly struct QueueView
    {
        private readonly nint _p;
        private readonly int _size;

        public QueueView(nint p, int size)
        {
            _p = p;
            _size = size;
        }

        // SAFETY (all members below): _p points at a mapped region of at least 16 + 16 × _size bytes
        // (checked when the region was created or mapped); every head index is checked < _size by the caller.
        private ushort* VersionPtr => (ushort*)(_p + 8);
        private ushort* DescNumPtr => (ushort*)(_p + 10);
        private ushort* LastBatchHeadPtr => (ushort*)(_p + 12);
        private ushort* UsedIdxPtr => (ushort*)(_p + 14);
        private byte* InflightPtr(int head) => (byte*)(_p + HeaderBytes + DescBytes * head);
        private ulong* CounterPtr(int head) => (ulong*)(_p + HeaderBytes + DescBytes * head + 8);

        public bool IsInitialized => *VersionPtr != 0 && *DescNumPtr == _size;

        public void Initialize()
        {
            new Span<byte>((void*)_p, HeaderBytes + DescBytes * _size).Clear();
            *DescNumPtr = (ushort)_size;
            Volatile.Write(ref *VersionPtr, Version);
        }

        public void MarkTaken(ushort head, ulong counter)
        {
            *CounterPtr(head) = counter;
            Volatile.Write(ref *InflightPtr(head), 1);
        }

        public void BeforeUsed(ushort head) => Volatile.Write(ref *LastBatchHeadPtr, head);

        public void AfterUsed(ushort head, ushort usedIdx)
        {
            Volatile.Write(ref *InflightPtr(head), 0);
            Volatile.Write(ref *UsedIdxPtr, usedIdx);
        }

        /// <summary>
        /// After a restart: repairs a completion cut short by the crash and returns the heads still in
        /// flight, oldest first, and the counter to continue from.
        /// </summary>
        public List<ushort> Recover(ushort ringUsedIdx, out ulong nextCounter)
        {
            if (*UsedIdxPtr != ringUsedIdx)
            {
                ushort last = *LastBatchHeadPtr;
                if (last < _size)
                {
                    *InflightPtr(last) = 0;
                }
                *UsedIdxPtr = ringUsedIdx;
            }
            var heads = new List<(ulong Counter, ushort Head)>();
            for (int i = 0; i < _size; i++)
            {
                if (*InflightPtr(i) == 1)
                {
                    heads.Add((*CounterPtr(i), (ushort)i));
                }
            }
            heads.Sort();
            nextCounter = heads.Count == 0 ? 1 : heads[^1].Counter + 1;
            return heads.Select(h => h.Head).ToList();
        }
    }
}
