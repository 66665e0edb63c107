namespace Fabric.Core.Time;

/// <summary>
/// A clock that moves only when told to: tests and the deterministic simulation drive time by hand.
/// </summary>
/// <remarks>
/// Contract: <see cref="Advance"/> moves the clock forward and fires, in due-time order (ties in
/// creation order), every timer that falls due, on the calling thread; a timer callback that creates
/// or changes timers sees the clock at that timer's due time. Nothing runs on other threads, so a run
/// driven from one seed replays exactly.
/// </remarks>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly object _gate = new();
    private readonly List<ManualTimer> _timers = new();
    private DateTimeOffset _now;
    private long _timestamp;
    private long _sequence;

    public ManualTimeProvider(DateTimeOffset? start = null)
    {
        _now = start ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate) return _now;
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp()
    {
        lock (_gate) return _timestamp;
    }

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <summary>The due time of the earliest armed timer, or null.</summary>
    public DateTimeOffset? NextDue
    {
        get
        {
            lock (_gate)
            {
                DateTimeOffset? next = null;
                foreach (var timer in _timers)
                {
                    if (timer.Due is { } due && (next is null || due < next)) next = due;
                }
                return next;
            }
        }
    }

    public void Advance(TimeSpan delta)
    {
        if (delta < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(delta), "time only moves forward");
        DateTimeOffset target;
        lock (_gate) target = _now + delta;
        while (true)
        {
            ManualTimer? fire = null;
            lock (_gate)
            {
                foreach (var timer in _timers)
                {
                    if (timer.Due is { } due && due <= target && (fire is null || due < fire.Due || (due == fire.Due && timer.Sequence < fire.Sequence)))
                    {
                        fire = timer;
                    }
                }
                if (fire is null)
                {
                    SetNowLocked(target);
                    return;
                }
                SetNowLocked(fire.Due!.Value);
                fire.Due = fire.Period is { } period && period > TimeSpan.Zero ? fire.Due + period : null;
            }
            fire.Callback(fire.State);
        }
    }

    private void SetNowLocked(DateTimeOffset now)
    {
        if (now <= _now) return;
        _timestamp += (now - _now).Ticks;
        _now = now;
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        lock (_gate)
        {
            timer.Sequence = _sequence++;
            _timers.Add(timer);
        }
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public readonly TimerCallback Callback = callback;
        public readonly object? State = state;
        public long Sequence;
        public DateTimeOffset? Due;
        public TimeSpan? Period;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                if (!owner._timers.Contains(this)) return false;
                Period = period == Timeout.InfiniteTimeSpan ? null : period;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
                Sequence = owner._sequence++;
                return true;
            }
        }

        public void Dispose()
        {
            lock (owner._gate) owner._timers.Remove(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
