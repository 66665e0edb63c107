// Durable group commit for one RocksDatabase: many concurrent writers, one WAL fsync for all of
// them, no thread-pool thread ever blocked on the disk.
//
//   caller (any thread)                        flusher (one dedicated thread per writer)
//   -------------------                        -----------------------------------------
//   WriteAsync(batch)
//     take a queue slot (bounded; waits async when full)
//     db.Write(batch, sync: false)  ─────────► WAL record buffered, memtable updated
//     queue a waiter  ───────────────────────► wakes up, takes every queued waiter
//     return the pending ValueTask              db.FlushWal(sync: true)  (one write + fdatasync)
//   await ◄── completed, continuation runs ──── completes each taken waiter (or fails it with
//             on the thread pool                RocksDB's error), frees their slots, loops
//
// Why a completed write is durable: a waiter is queued only after its Write returned (so its
// record is already in the WAL buffer or file), and the flusher starts FlushWal only after taking
// the waiter; RocksDB's FlushWAL(sync) makes every record appended before it started durable.
// Why completion order is safe: the WAL is a log and RocksDB replays it as a prefix
// (WalRecoveryMode.PointInTime), so after a crash the data is a prefix of the write order that
// contains every completed write. A write whose task failed may or may not be durable (the
// outcome is unknown, as with any storage write that errors).
//
// ENVIRONMENT.md measured this shape (sync=false + ManualWalFlush + a dedicated FlushWAL thread)
// at 12-13 k durable writes/s across 3 DBs against 7.7-8.8 k/s with sync=true, and measured that
// blocking synced writes on thread-pool threads starve the pool on these 2-CPU machines.
// Open the database with RocksDbOptions.ManualWalFlush = true for the intended speed; without it
// the writer is still correct (FlushWal then only fsyncs).
using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Fabric.RocksDb;

public sealed class DurableWriter : IDisposable
{
    private readonly RocksDatabase _database;
    private readonly int _capacity;
    private readonly SemaphoreSlim _slots;
    private readonly object _lock = new();
    private readonly Thread _flusher;
    private readonly Stack<Waiter> _pool = new();
    private List<Waiter> _pending;
    private int _writersInside;
    private bool _closing;
    private long _flushCount;
    private long _completedWrites;
    private long _failedWrites;

    /// <param name="database">The database to write to; it must outlive this writer.</param>
    /// <param name="maxPendingWrites">Most writes applied but not yet durable at once; further
    /// writers wait (asynchronously) for room, so memory and latency stay bounded.</param>
    public DurableWriter(RocksDatabase database, int maxPendingWrites = 1024)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingWrites, 1);
        _database = database;
        _capacity = maxPendingWrites;
        _slots = new SemaphoreSlim(maxPendingWrites, maxPendingWrites);
        _pending = new List<Waiter>(maxPendingWrites);
        _flusher = new Thread(FlushLoop)
        {
            IsBackground = true,
            Name = $"durable-writer {System.IO.Path.GetFileName(database.Path)}",
        };
        _flusher.Start();
    }

    public RocksDatabase Database => _database;

    /// <summary>Number of FlushWal(sync) calls made so far (each covers one or more writes).</summary>
    public long FlushCount => Interlocked.Read(ref _flushCount);

    /// <summary>Writes acknowledged as durable so far.</summary>
    public long CompletedWrites => Interlocked.Read(ref _completedWrites);

    /// <summary>Writes whose task failed (the write or the WAL sync reported an error).</summary>
    public long FailedWrites => Interlocked.Read(ref _failedWrites);

    /// <summary>Applies <paramref name="batch"/> and completes once it is durable (WAL fsynced).
    /// The batch may be cleared and reused once the returned task completes. Cancellation only
    /// stops waiting for queue room: once applied, a write cannot be taken back. Await the result
    /// exactly once (it is a pooled ValueTask).</summary>
    public ValueTask WriteAsync(WriteBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (Volatile.Read(ref _closing)) return ValueTask.FromException(new ObjectDisposedException(nameof(DurableWriter)));
        if (_slots.Wait(0)) return WriteWithSlot(batch);
        return WaitForSlotThenWriteAsync(batch, cancellationToken);
    }

    private async ValueTask WaitForSlotThenWriteAsync(WriteBatch batch, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        await WriteWithSlot(batch).ConfigureAwait(false);
    }

    private ValueTask WriteWithSlot(WriteBatch batch)
    {
        lock (_lock)
        {
            if (_closing)
            {
                _slots.Release();
                return ValueTask.FromException(new ObjectDisposedException(nameof(DurableWriter)));
            }
            _writersInside++;
        }

        try
        {
            _database.Write(batch, sync: false);
        }
        catch (Exception error)
        {
            lock (_lock)
            {
                _writersInside--;
                Monitor.Pulse(_lock);
            }
            _slots.Release();
            Interlocked.Increment(ref _failedWrites);
            return ValueTask.FromException(error);
        }

        var waiter = Rent();
        var task = waiter.AsValueTask();
        lock (_lock)
        {
            _pending.Add(waiter);
            _writersInside--;
            Monitor.Pulse(_lock);
        }
        return task;
    }

    private void FlushLoop()
    {
        var taken = new List<Waiter>(_capacity);
        while (true)
        {
            lock (_lock)
            {
                // Exit only when closing and no write is between "applied" and "queued": such a
                // write must still get its flush.
                while (_pending.Count == 0 && !(_closing && _writersInside == 0)) Monitor.Wait(_lock);
                if (_pending.Count == 0) return;
                (_pending, taken) = (taken, _pending);
            }
            Debug.Assert(taken.Count > 0 && taken.Count <= _capacity, "the queue is bounded by the slots");

            Exception? error = null;
            try
            {
                _database.FlushWal(sync: true);
            }
            catch (Exception e)
            {
                error = e;
            }

            int count = taken.Count;
            Interlocked.Increment(ref _flushCount);
            Interlocked.Add(ref error is null ? ref _completedWrites : ref _failedWrites, count);
            foreach (var waiter in taken) waiter.Complete(error);
            taken.Clear();
            _slots.Release(count);
        }
    }

    /// <summary>Stops accepting writes, makes every write already applied durable (or fails it),
    /// completes all their tasks, and stops the flusher thread.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_closing) return;
            Volatile.Write(ref _closing, true);
            Monitor.PulseAll(_lock);
        }
        _flusher.Join();
    }

    private Waiter Rent()
    {
        lock (_pool)
        {
            if (_pool.TryPop(out var waiter)) return waiter;
        }
        return new Waiter(this);
    }

    private void Return(Waiter waiter)
    {
        lock (_pool)
        {
            if (_pool.Count < _capacity) _pool.Push(waiter);
        }
    }

    /// <summary>One pending write's completion: a reusable IValueTaskSource whose continuations
    /// always run asynchronously, so completing a batch never runs callers' code on the flusher
    /// thread.</summary>
    private sealed class Waiter : IValueTaskSource
    {
        private readonly DurableWriter _owner;
        private ManualResetValueTaskSourceCore<bool> _core;

        public Waiter(DurableWriter owner)
        {
            _owner = owner;
            _core.RunContinuationsAsynchronously = true;
        }

        public ValueTask AsValueTask() => new(this, _core.Version);

        public void Complete(Exception? error)
        {
            if (error is null) _core.SetResult(true);
            else _core.SetException(error);
        }

        void IValueTaskSource.GetResult(short token)
        {
            try
            {
                _core.GetResult(token);
            }
            finally
            {
                _core.Reset();
                _owner.Return(this);
            }
        }

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);
    }
}
