namespace Fabric.Simulation;

/// <summary>
/// Simulated time and the one event queue everything runs from. Events at the same time run in the
/// order they were scheduled, so a seed replays exactly. Time is in microseconds.
/// </summary>
public sealed class SimScheduler
{
    private readonly PriorityQueue<Action, (long Time, long Seq)> _queue = new();
    private long _seq;

    public long NowUs { get; private set; }

    public long NowMs => NowUs / 1000;

    public long Executed { get; private set; }

    public void At(long timeUs, Action action) => _queue.Enqueue(action, (Math.Max(timeUs, NowUs), _seq++));

    public void After(long delayUs, Action action) => At(NowUs + Math.Max(0, delayUs), action);

    /// <summary>Runs events until the clock passes <paramref name="timeUs"/> or <paramref name="until"/> holds.</summary>
    public bool RunUntil(long timeUs, Func<bool>? until = null)
    {
        while (_queue.TryPeek(out _, out (long Time, long Seq) key))
        {
            if (until is not null && until())
            {
                return true;
            }
            if (key.Time > timeUs)
            {
                break;
            }
            Action action = _queue.Dequeue();
            NowUs = key.Time;
            Executed++;
            action();
        }
        NowUs = Math.Max(NowUs, timeUs);
        return until is not null && until();
    }
}
