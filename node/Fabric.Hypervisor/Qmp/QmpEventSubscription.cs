using System.Threading.Channels;

namespace Fabric.Hypervisor.Qmp;

/// <summary>
/// One subscriber's view of a QMP connection's events, from the moment of <see cref="QmpClient.Subscribe"/>
/// on. Bounded: a subscriber that stops reading loses the oldest events, never blocks the connection. The
/// reader completes when the connection ends. Dispose to unsubscribe.
/// </summary>
public sealed class QmpEventSubscription : IDisposable
{
    private readonly Action<QmpEventSubscription> _unsubscribe;
    internal readonly Channel<QmpEvent> Channel;

    internal QmpEventSubscription(int capacity, Action<QmpEventSubscription> unsubscribe)
    {
        Channel = System.Threading.Channels.Channel.CreateBounded<QmpEvent>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        _unsubscribe = unsubscribe;
    }

    public ChannelReader<QmpEvent> Reader => Channel.Reader;

    /// <summary>Waits for the next event named <paramref name="name"/> that satisfies <paramref name="match"/>.</summary>
    /// <returns>The event, or null when the connection ended first.</returns>
    public async Task<QmpEvent?> WaitForAsync(string name, Func<QmpEvent, bool>? match, CancellationToken cancellationToken)
    {
        await foreach (var e in Channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (e.Name == name && (match is null || match(e))) return e;
        }
        return null;
    }

    public void Dispose()
    {
        _unsubscribe(this);
        Channel.Writer.TryComplete();
    }
}
