using System.Buffers;
using System.Diagnostics;
using Fabric.Core.Io;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.BlockBackend.Cache;

/// <summary>
/// A volatile write cache in front of a volume (what librbd's writeback cache is to RBD, and a disk's own
/// write cache to a disk): a 4 KiB-aligned write is acknowledged once it is in this node's memory; it reaches
/// the volume later, merged with its neighbours, and a flush completes only when every write acknowledged
/// before it is durable in the volume. Reads see acknowledged writes at once.
/// </summary>
/// <remarks>
/// <para>What a crash of this process loses is what a disk with a volatile write cache loses: writes not yet
/// flushed. The devices advertise it (NBD <c>SEND_FLUSH</c>, virtio-blk <c>F_FLUSH</c>), so guests and tools
/// flush when they need durability. Only the node holding the volume's exclusive lock writes it, and the lock
/// moves only after a flush (migration, stop), so the cache never serves data another writer replaced.</para>
/// <para>State of a 4 KiB block in the cache: <c>Dirty</c> (holds acknowledged bytes not yet sent),
/// <c>InFlight</c> (a write-back of an earlier version is running), both, or neither while a reader has it
/// pinned. A block is present exactly while one of those holds; its bytes are always the newest acknowledged
/// ones. A block never has two write-backs running, so write-backs of one block reach the volume in order.</para>
/// <para>Flush ordering: every dirtying belongs to the current flush epoch; a flush closes its epoch and waits
/// until no block dirtied in it or earlier is unwritten (<c>_pending</c> counts them per epoch).</para>
/// <para>Writes the cache does not take (FUA, unaligned, at least <see cref="WriteBackOptions.DirectWriteBytes"/>),
/// discards and write-zeroes go to the volume directly, after writing back everything cached when they
/// overlap cached blocks (so an older cached write never lands over them).</para>
/// <para>A write-back the volume refuses (fenced, out of range, I/O error) drops that data and makes the next
/// flush fail with that status, as a disk reports a failed cache write-back.</para>
/// </remarks>
public sealed class WriteBackVolume : IBlockVolume
{
    public const int BlockBytes = 4096;
    private const int MaxFreeBlocks = 1024;

    private readonly IBlockVolume _inner;
    private readonly WriteBackOptions _options;
    private readonly bool _ownsInner;
    private readonly ILogger _logger;
    private readonly int _maxBlocks;
    private readonly int _maxRunBlocks;
    private readonly long _splitBlocks;
    private readonly long _maxDirtyAgeTicks;
    private readonly Timer _ageTimer;

    private readonly object _gate = new();
    private readonly Dictionary<long, Block> _blocks = new();
    private readonly Queue<long> _dirtyOrder = new();          // block indexes in the order they became dirty; may hold stale entries
    private readonly Dictionary<long, int> _pending = new();   // flush epoch -> unwritten dirtyings of that epoch
    private readonly Queue<(long Epoch, TaskCompletionSource Done)> _flushWaiters = new();
    private readonly Stack<Block> _freeBlocks = new();
    private readonly Stack<Run> _freeRuns = new();
    private TaskCompletionSource _room = NewSignal();
    private long _epoch = 1;          // the epoch writes dirty now; a flush closes it
    private long _minPending = 1;     // no epoch below it has pending dirtyings
    private volatile int _present;
    private int _dirtyBlocks;
    private int _roomWaiters;
    private int _writebacksInFlight;
    private BlockIoStatus _writebackError = BlockIoStatus.Ok;
    private bool _disposed;
    private long _cachedWrites;
    private long _writebacks;
    private long _writebackBytes;
    private long _readHitBlocks;

    private sealed class Block
    {
        public readonly byte[] Data = GC.AllocateUninitializedArray<byte>(BlockBytes);
        public long Index;
        public bool Dirty;
        public long DirtyEpoch;
        public long DirtySince;
        public bool InFlight;
        public long InFlightEpoch;
        public int Pins;
    }

    private sealed class Run(int capacity)
    {
        public readonly Block[] Blocks = new Block[capacity];
        public int Count;
        public long Offset;
        public byte[] Buffer = [];
        public Run? Next;
    }

    public WriteBackVolume(IBlockVolume inner, WriteBackOptions options, bool ownsInner = true, ILogger? logger = null)
    {
        if (options.Validate() is { } error) throw new ArgumentException(error, nameof(options));
        _inner = inner;
        _options = options;
        _ownsInner = ownsInner;
        _logger = logger ?? NullLogger.Instance;
        _maxBlocks = (int)Math.Max(1, options.MaxDirtyBytes / BlockBytes);
        _maxRunBlocks = options.MaxWritebackBytes / BlockBytes;
        _splitBlocks = options.SplitBytes / BlockBytes;
        _maxDirtyAgeTicks = (long)(options.MaxDirtyAge.TotalSeconds * Stopwatch.Frequency);
        var tick = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(20).Ticks, options.MaxDirtyAge.Ticks / 4));
        _ageTimer = new Timer(static s => ((WriteBackVolume)s!).OnAgeTick(), this, tick, tick);
    }

    public IBlockVolume Inner => _inner;

    public string Name => _inner.Name;

    public long SizeBytes => _inner.SizeBytes;

    public int LogicalBlockSize => _inner.LogicalBlockSize;

    public bool ReadOnly => _inner.ReadOnly;

    /// <summary>True: writes complete once cached, and become durable at the next flush.</summary>
    public bool VolatileWriteCache => true;

    /// <summary>Acknowledged bytes not yet handed to the volume.</summary>
    public long DirtyBytes
    {
        get { lock (_gate) return (long)_dirtyBlocks * BlockBytes; }
    }

    /// <summary>Writes acknowledged from the cache.</summary>
    public long CachedWrites => Interlocked.Read(ref _cachedWrites);

    /// <summary>Write-backs sent to the volume, and their bytes (merging shows as bytes per write-back).</summary>
    public long Writebacks => Interlocked.Read(ref _writebacks);

    public long WritebackBytes => Interlocked.Read(ref _writebackBytes);

    /// <summary>4 KiB blocks of reads served from cached writes.</summary>
    public long ReadHitBlocks => Interlocked.Read(ref _readHitBlocks);

    // ---- writes ------------------------------------------------------------------------------------

    public ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken)
    {
        if (_inner.ReadOnly || source.Length == 0) return _inner.WriteAsync(offset, source, fua, cancellationToken);
        if (offset < 0 || offset > SizeBytes - source.Length) return ValueTask.FromResult(BlockIoStatus.OutOfRange);
        if (fua || source.Length >= _options.DirectWriteBytes || (offset | (long)source.Length) % BlockBytes != 0)
        {
            return DirectAsync(offset, source.Length, DirectOp.Write, source, fua, cancellationToken);
        }
        Run? launch;
        lock (_gate)
        {
            if (_disposed) return ValueTask.FromResult(BlockIoStatus.IoError);
            if (!HasRoom(source.Length / BlockBytes)) return WriteWhenRoomAsync(offset, source, cancellationToken);
            Insert(offset, source.Span);
            launch = Pump();
        }
        Launch(launch);
        return ValueTask.FromResult(BlockIoStatus.Ok);
    }

    private async ValueTask<BlockIoStatus> WriteWhenRoomAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task? room = null;
            Run? launch;
            lock (_gate)
            {
                if (_disposed) return BlockIoStatus.IoError;
                if (HasRoom(source.Length / BlockBytes))
                {
                    Insert(offset, source.Span);
                }
                else
                {
                    _roomWaiters++;
                    room = _room.Task;
                }
                launch = Pump();
            }
            Launch(launch);
            if (room is null) return BlockIoStatus.Ok; // taken: only a write that is in the cache is acknowledged
            try
            {
                await room.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                lock (_gate) _roomWaiters--;
            }
        }
    }

    // An empty cache takes any write the cache takes at all, so a write larger than the limit cannot wait forever.
    private bool HasRoom(int blocks) => _present == 0 || _present + blocks <= _maxBlocks;

    private void Insert(long offset, ReadOnlySpan<byte> source)
    {
        long first = offset / BlockBytes;
        int count = source.Length / BlockBytes;
        long now = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            long index = first + i;
            if (!_blocks.TryGetValue(index, out var block))
            {
                block = _freeBlocks.Count > 0 ? _freeBlocks.Pop() : new Block();
                block.Index = index;
                _blocks.Add(index, block);
                _present++;
            }
            source.Slice(i * BlockBytes, BlockBytes).CopyTo(block.Data);
            if (!block.Dirty)
            {
                block.Dirty = true;
                block.DirtyEpoch = _epoch;
                block.DirtySince = now;
                _dirtyBlocks++;
                AddPending(_epoch);
                // A block with a write-back running is queued again when that one ends (one at a time per block).
                if (!block.InFlight) _dirtyOrder.Enqueue(index);
            }
        }
        _cachedWrites++;
    }

    private enum DirectOp { Write, Discard, WriteZeroes }

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        DirectAsync(offset, length, DirectOp.Discard, default, false, cancellationToken);

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) =>
        DirectAsync(offset, length, DirectOp.WriteZeroes, default, false, cancellationToken);

    private ValueTask<BlockIoStatus> DirectAsync(long offset, long length, DirectOp op, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken)
    {
        bool overlaps;
        lock (_gate) overlaps = Overlaps(offset, length);
        if (!overlaps) return Direct(offset, length, op, source, fua, cancellationToken);
        return WriteBackThenDirectAsync(offset, length, op, source, fua, cancellationToken);
    }

    private async ValueTask<BlockIoStatus> WriteBackThenDirectAsync(long offset, long length, DirectOp op, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken)
    {
        await WriteBackAllAsync(cancellationToken).ConfigureAwait(false);
        return await Direct(offset, length, op, source, fua, cancellationToken).ConfigureAwait(false);
    }

    private ValueTask<BlockIoStatus> Direct(long offset, long length, DirectOp op, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken) => op switch
    {
        DirectOp.Write => _inner.WriteAsync(offset, source, fua, cancellationToken),
        DirectOp.Discard => _inner.DiscardAsync(offset, length, cancellationToken),
        _ => _inner.WriteZeroesAsync(offset, length, cancellationToken),
    };

    private bool Overlaps(long offset, long length)
    {
        if (_present == 0 || length <= 0) return false;
        long first = Math.Max(0, offset) / BlockBytes;
        long last = (offset + length - 1) / BlockBytes;
        if (last - first + 1 <= _present)
        {
            for (long i = first; i <= last; i++)
            {
                if (_blocks.ContainsKey(i)) return true;
            }
            return false;
        }
        foreach (var index in _blocks.Keys)
        {
            if (index >= first && index <= last) return true;
        }
        return false;
    }

    // ---- flush ---------------------------------------------------------------------------------------

    public async ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken)
    {
        await WriteBackAllAsync(cancellationToken).ConfigureAwait(false);
        BlockIoStatus failed;
        lock (_gate)
        {
            failed = _writebackError;
            _writebackError = BlockIoStatus.Ok;
        }
        if (failed != BlockIoStatus.Ok) return failed;
        return await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Completes when every write acknowledged before the call has been handed to the volume and answered.</summary>
    private Task WriteBackAllAsync(CancellationToken cancellationToken)
    {
        Task done;
        Run? launch = null;
        lock (_gate)
        {
            long epoch = _epoch++;
            if (!HasPendingUpTo(epoch)) return Task.CompletedTask;
            // Completed outside the lock by the write-back that ends it, and its continuation (the flush's reply)
            // runs right there: a thread-pool hop here costs a QD1 flush more than the write-back itself.
            var waiter = new TaskCompletionSource();
            _flushWaiters.Enqueue((epoch, waiter));
            done = waiter.Task;
            launch = Pump();
        }
        Launch(launch);
        return cancellationToken.CanBeCanceled ? done.WaitAsync(cancellationToken) : done;
    }

    private void AddPending(long epoch) => _pending[epoch] = _pending.GetValueOrDefault(epoch) + 1;

    private void RemovePending(long epoch)
    {
        int left = _pending[epoch] - 1;
        Debug.Assert(left >= 0);
        if (left == 0) _pending.Remove(epoch);
        else _pending[epoch] = left;
    }

    private bool HasPendingUpTo(long epoch)
    {
        // Epochs are consecutive and only the current one gains dirtyings, so the lowest pending epoch only moves up.
        while (_minPending < _epoch && !_pending.ContainsKey(_minPending)) _minPending++;
        return _minPending <= epoch && _pending.ContainsKey(_minPending);
    }

    /// <summary>Takes the flushes that are done off the queue (under the lock); complete them once it is released.</summary>
    private List<TaskCompletionSource>? TakeDoneFlushWaiters()
    {
        List<TaskCompletionSource>? done = null;
        while (_flushWaiters.Count > 0 && !HasPendingUpTo(_flushWaiters.Peek().Epoch))
        {
            (done ??= new List<TaskCompletionSource>(1)).Add(_flushWaiters.Dequeue().Done);
        }
        return done;
    }

    // ---- write-back ----------------------------------------------------------------------------------

    /// <summary>Starts the write-backs that are due (under the lock); returns them to launch once the lock is released.</summary>
    private Run? Pump()
    {
        Run? launch = null;
        while (_writebacksInFlight < _options.MaxWritebacksInFlight && TryPeekOldestDirty(out var oldest))
        {
            bool due = _flushWaiters.Count > 0 || _roomWaiters > 0 || _disposed
                || (long)_dirtyBlocks * BlockBytes >= _options.Target
                || Stopwatch.GetTimestamp() - oldest.DirtySince >= _maxDirtyAgeTicks;
            if (!due) break;
            _dirtyOrder.Dequeue();
            var run = BuildRun(oldest);
            run.Next = launch;
            launch = run;
        }
        return launch;
    }

    private bool TryPeekOldestDirty(out Block block)
    {
        while (_dirtyOrder.TryPeek(out long index))
        {
            if (_blocks.TryGetValue(index, out block!) && block.Dirty && !block.InFlight) return true;
            _dirtyOrder.Dequeue(); // stale: written back with a neighbour, or queued again when its write-back ends
        }
        block = null!;
        return false;
    }

    private bool Sendable(long index) => _blocks.TryGetValue(index, out var b) && b.Dirty && !b.InFlight;

    private Run BuildRun(Block start)
    {
        long objectFirst = start.Index / _splitBlocks * _splitBlocks;
        long objectEnd = objectFirst + _splitBlocks;
        long first = start.Index;
        long last = start.Index;
        while (first - 1 >= objectFirst && last - first + 1 < _maxRunBlocks && Sendable(first - 1)) first--;
        while (last + 1 < objectEnd && last - first + 1 < _maxRunBlocks && Sendable(last + 1)) last++;

        var run = _freeRuns.Count > 0 ? _freeRuns.Pop() : new Run(_maxRunBlocks);
        run.Count = (int)(last - first + 1);
        run.Offset = first * BlockBytes;
        run.Buffer = ArrayPool<byte>.Shared.Rent(run.Count * BlockBytes);
        for (int i = 0; i < run.Count; i++)
        {
            var block = _blocks[first + i];
            Debug.Assert(block.Dirty && !block.InFlight);
            block.Data.CopyTo(run.Buffer, i * BlockBytes);
            block.Dirty = false;
            block.InFlight = true;
            block.InFlightEpoch = block.DirtyEpoch;
            run.Blocks[i] = block;
        }
        _dirtyBlocks -= run.Count;
        _writebacksInFlight++;
        return run;
    }

    private void Launch(Run? run)
    {
        while (run is not null)
        {
            var next = run.Next;
            run.Next = null;
            _ = WriteBackAsync(run);
            run = next;
        }
    }

    private async Task WriteBackAsync(Run run)
    {
        BlockIoStatus status;
        try
        {
            status = await _inner.WriteAsync(run.Offset, run.Buffer.AsMemory(0, run.Count * BlockBytes), false, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            WriteBackLog.Failed(_logger, Name, run.Offset, run.Count * BlockBytes, e.Message);
            status = BlockIoStatus.IoError;
        }
        if (status != BlockIoStatus.Ok) WriteBackLog.Refused(_logger, Name, run.Offset, run.Count * BlockBytes, status);
        Interlocked.Increment(ref _writebacks);
        Interlocked.Add(ref _writebackBytes, run.Count * BlockBytes);
        Run? launch;
        List<TaskCompletionSource>? flushed;
        lock (_gate)
        {
            _writebacksInFlight--;
            if (status != BlockIoStatus.Ok && _writebackError == BlockIoStatus.Ok) _writebackError = status;
            for (int i = 0; i < run.Count; i++)
            {
                var block = run.Blocks[i];
                run.Blocks[i] = null!;
                block.InFlight = false;
                RemovePending(block.InFlightEpoch);
                if (block.Dirty) _dirtyOrder.Enqueue(block.Index);
                else if (block.Pins == 0) Remove(block);
            }
            ArrayPool<byte>.Shared.Return(run.Buffer);
            run.Buffer = [];
            _freeRuns.Push(run);
            flushed = TakeDoneFlushWaiters();
            SignalRoom();
            launch = Pump();
        }
        Launch(launch);
        if (flushed is not null)
        {
            foreach (var waiter in flushed) waiter.TrySetResult();
        }
    }

    private void Remove(Block block)
    {
        _blocks.Remove(block.Index);
        _present--;
        if (_freeBlocks.Count < MaxFreeBlocks) _freeBlocks.Push(block);
    }

    private void SignalRoom()
    {
        if (_roomWaiters == 0) return;
        var room = _room;
        _room = NewSignal();
        room.TrySetResult();
    }

    private void OnAgeTick()
    {
        Run? launch;
        lock (_gate)
        {
            if (_dirtyBlocks == 0) return;
            launch = Pump();
        }
        Launch(launch);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    // ---- reads ---------------------------------------------------------------------------------------

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_present == 0 || destination.Length == 0 || offset < 0 || offset > SizeBytes - destination.Length)
        {
            return _inner.ReadAsync(offset, destination, cancellationToken);
        }
        Block[]? pinned = null;
        int pins = 0;
        lock (_gate)
        {
            long first = offset / BlockBytes;
            long last = (offset + destination.Length - 1) / BlockBytes;
            int span = (int)(last - first + 1);
            int found = 0;
            for (long i = first; i <= last; i++)
            {
                if (_blocks.ContainsKey(i)) found++;
            }
            if (found == 0) return _inner.ReadAsync(offset, destination, cancellationToken);
            if (found == span)
            {
                // Everything is cached: no volume read at all.
                for (long i = first; i <= last; i++) CopyOut(_blocks[i], offset, destination.Span);
                _readHitBlocks += span;
                return ValueTask.FromResult(BlockIoStatus.Ok);
            }
            // Pin the cached blocks so a write-back ending during the volume read cannot remove them before
            // they are laid over it (the volume read may have been served before that write-back landed).
            pinned = ArrayPool<Block>.Shared.Rent(found);
            for (long i = first; i <= last; i++)
            {
                if (_blocks.TryGetValue(i, out var b))
                {
                    b.Pins++;
                    pinned[pins++] = b;
                }
            }
        }
        return ReadAroundAsync(offset, destination, pinned, pins, cancellationToken);
    }

    private async ValueTask<BlockIoStatus> ReadAroundAsync(long offset, Memory<byte> destination, Block[] pinned, int pins, CancellationToken cancellationToken)
    {
        var status = BlockIoStatus.IoError;
        try
        {
            status = await _inner.ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                for (int i = 0; i < pins; i++)
                {
                    var block = pinned[i];
                    pinned[i] = null!;
                    if (status == BlockIoStatus.Ok) CopyOut(block, offset, destination.Span);
                    if (--block.Pins == 0 && !block.Dirty && !block.InFlight) Remove(block);
                }
                SignalRoom();
                if (status == BlockIoStatus.Ok) _readHitBlocks += pins;
            }
            ArrayPool<Block>.Shared.Return(pinned);
        }
        return status;
    }

    private static void CopyOut(Block block, long offset, Span<byte> destination)
    {
        long blockStart = block.Index * BlockBytes;
        long from = Math.Max(blockStart, offset);
        long to = Math.Min(blockStart + BlockBytes, offset + destination.Length);
        block.Data.AsSpan((int)(from - blockStart), (int)(to - from)).CopyTo(destination[(int)(from - offset)..]);
    }

    // ---- lifetime ------------------------------------------------------------------------------------

    /// <summary>Writes everything back (a flush), stops the cache, and closes the volume when it owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await WriteBackAllAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate) _disposed = true;
            await _ageTimer.DisposeAsync().ConfigureAwait(false);
            if (_ownsInner) await _inner.DisposeAsync().ConfigureAwait(false);
        }
    }
}

internal static partial class WriteBackLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Write-back of {Volume} [{Offset}+{Length}] failed: {Reason}; the next flush reports an I/O error")]
    public static partial void Failed(ILogger logger, string volume, long offset, int length, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Write-back of {Volume} [{Offset}+{Length}] refused ({Status}); the data is dropped and the next flush reports it")]
    public static partial void Refused(ILogger logger, string volume, long offset, int length, BlockIoStatus status);
}
