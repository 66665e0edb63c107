using System.Collections.Concurrent;

namespace Fabric.Storage.Osd;

/// <summary>
/// The OSD event loop's inbox: many producers (receiver threads, the store's flusher, the timer, admin
/// calls), one consumer (the loop thread). Unlike BlockingCollection it never spins: on the 2-vCPU
/// paravirtualized machines this runs on, the loop's spin-then-yield waiting made about 5,500
/// sched_yield calls a second per node under a 4 KiB QD16 write load (strace -c), CPU the receivers
/// and the other nodes' loops needed. A producer pays for a wake-up only when the loop sleeps.
/// </summary>
internal sealed class EventLoopQueue
{
    private readonly ConcurrentQueue<Action> _queue = new();
    private readonly ManualResetEventSlim _signal = new(initialState: false, spinCount: 0);
    private int _sleeping;
    private volatile bool _completed;

    /// <summary>Queues an action; false once <see cref="Complete"/> was called.</summary>
    public bool TryAdd(Action action)
    {
        if (_completed)
        {
            return false;
        }
        _queue.Enqueue(action); // A full fence: ordered before the read of _sleeping below.
        if (Volatile.Read(ref _sleeping) != 0)
        {
            _signal.Set();
        }
        return true;
    }

    /// <summary>Stops taking new actions; the consumer drains what was queued, then ends.</summary>
    public void Complete()
    {
        _completed = true;
        _signal.Set();
    }

    /// <summary>The next action, waiting while there is none; false when completed and drained. Before it
    /// sleeps it calls <paramref name="onIdle"/> (when given): true means that did work, which may have queued
    /// actions, so it looks again.</summary>
    public bool TryTake(out Action action, Func<bool>? onIdle = null)
    {
        while (true)
        {
            if (_queue.TryDequeue(out action!))
            {
                return true;
            }
            if (_completed)
            {
                return false;
            }
            if (onIdle is not null && onIdle())
            {
                continue;
            }
            _signal.Reset();
            // Announce the sleep with a full fence, then look again: a producer either sees the flag
            // and sets the signal, or enqueued before the flag and is seen by this second look.
            Interlocked.Exchange(ref _sleeping, 1);
            if (_queue.IsEmpty && !_completed)
            {
                _signal.Wait();
            }
            Volatile.Write(ref _sleeping, 0);
        }
    }
}
