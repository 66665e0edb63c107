using System.Collections.Concurrent;
using Fabric.Client.Messaging;

namespace Fabric.Storage.Osd;

/// <summary>
/// The OSD event loop's inbox and wait point: many producers post actions (the timer, maps, admin calls, store
/// callbacks), one consumer (the loop thread) takes them, and while there are none it waits in a
/// <see cref="FramePoller"/>, which also receives the OSD's connections on this same thread: a message from a
/// client or a peer wakes one thread, not a receiver and then the loop. It never spins: on the 2-vCPU
/// paravirtualized machines this runs on, spin-then-yield waiting made about 5,500 sched_yield calls a second
/// per node under a 4 KiB QD16 write load (strace -c), CPU the other nodes' loops needed. A producer pays for
/// a wake-up only when the loop sleeps.
/// </summary>
internal sealed class EventLoopQueue : IDisposable
{
    private readonly ConcurrentQueue<Action> _queue = new();
    private readonly FramePoller _poller = new();
    private int _sleeping;
    private volatile bool _completed;

    /// <summary>Where connections received on the loop thread register (see <see cref="FramePoller"/>).</summary>
    public FramePoller Poller => _poller;

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
            _poller.Wake();
        }
        return true;
    }

    /// <summary>Stops taking new actions; the consumer drains what was queued, then ends.</summary>
    public void Complete()
    {
        _completed = true;
        _poller.Wake();
    }

    /// <summary>The next action, waiting while there is none; false when completed and drained. While it waits,
    /// connections that have bytes are received on this thread (their callbacks run here). Before it sleeps it
    /// calls <paramref name="onIdle"/> (when given): true means that did work, which may have queued actions, so
    /// it looks again.</summary>
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
            if (_poller.Poll(timeoutMs: 0) > 0)
            {
                continue;
            }
            if (onIdle is not null && onIdle())
            {
                continue;
            }
            // Announce the sleep with a full fence, then look again: a producer either sees the flag and
            // wakes the poller, or enqueued before the flag and is seen by this second look.
            Interlocked.Exchange(ref _sleeping, 1);
            if (_queue.IsEmpty && !_completed)
            {
                _poller.Poll(timeoutMs: -1);
            }
            Volatile.Write(ref _sleeping, 0);
        }
    }

    /// <summary>Releases the poller (after the consumer has stopped).</summary>
    public void Dispose() => _poller.Dispose();
}
