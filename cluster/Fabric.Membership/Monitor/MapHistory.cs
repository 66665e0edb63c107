using System.Threading.Channels;
using Fabric.Proto;

namespace Fabric.Membership.Monitor;

/// <summary>
/// The recent maps and the watchers that follow them. A watcher subscribes from an epoch and receives
/// every later map in order, none skipped: first the retained ones, then each new one as it is
/// published.
/// </summary>
/// <remarks>
/// Contract: <see cref="Publish"/> is called with strictly increasing epochs (the monitor's single
/// writer). A watcher that started from an epoch older than the retained history first gets the
/// oldest map that is retained (a full map, which is all a client that far behind needs). A watcher
/// that falls more than <see cref="WatcherBacklog"/> maps behind is ended; it reconnects from its
/// last epoch and catches up from the history, so a slow reader never makes the monitor buffer
/// without bound.
/// </remarks>
public sealed class MapHistory
{
    public const int WatcherBacklog = 1024;

    private readonly object _gate = new();
    private readonly int _retain;
    private readonly LinkedList<ClusterMap> _recent = new();
    private readonly List<Channel<ClusterMap>> _watchers = new();

    public MapHistory(int retain = 1000)
    {
        if (retain < 1) throw new ArgumentOutOfRangeException(nameof(retain));
        _retain = retain;
    }

    public int WatcherCount
    {
        get { lock (_gate) return _watchers.Count; }
    }

    public ClusterMap? Latest
    {
        get { lock (_gate) return _recent.Last?.Value; }
    }

    public void Publish(ClusterMap map)
    {
        lock (_gate)
        {
            if (_recent.Last is { } last && map.Epoch <= last.Value.Epoch)
            {
                throw new InvalidOperationException($"map epoch {map.Epoch} published after epoch {last.Value.Epoch}");
            }
            _recent.AddLast(map);
            while (_recent.Count > _retain) _recent.RemoveFirst();
            for (int i = _watchers.Count - 1; i >= 0; i--)
            {
                if (!_watchers[i].Writer.TryWrite(map))
                {
                    _watchers[i].Writer.TryComplete(new MapWatcherTooSlowException(WatcherBacklog));
                    _watchers.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Every map with epoch &gt; <paramref name="fromEpoch"/>; with 0, the current map first.</summary>
    public ChannelReader<ClusterMap> Subscribe(ulong fromEpoch, CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<ClusterMap>(new BoundedChannelOptions(WatcherBacklog)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        lock (_gate)
        {
            if (fromEpoch == 0)
            {
                if (_recent.Last is { } current) channel.Writer.TryWrite(current.Value);
            }
            else
            {
                var backlog = 0;
                foreach (var map in _recent)
                {
                    if (map.Epoch <= fromEpoch) continue;
                    if (++backlog > WatcherBacklog)
                    {
                        // More to catch up on than one channel holds: the watcher reads this part,
                        // then reconnects from its newest epoch for the rest.
                        channel.Writer.TryComplete(new MapWatcherTooSlowException(WatcherBacklog));
                        return channel.Reader;
                    }
                    channel.Writer.TryWrite(map);
                }
            }
            _watchers.Add(channel);
        }
        cancellationToken.Register(() =>
        {
            lock (_gate) _watchers.Remove(channel);
            channel.Writer.TryComplete();
        });
        return channel.Reader;
    }

    /// <summary>Ends every watcher (this monitor stops being the source of maps).</summary>
    public void CompleteAll(Exception? error = null)
    {
        lock (_gate)
        {
            foreach (var watcher in _watchers) watcher.Writer.TryComplete(error);
            _watchers.Clear();
        }
    }
}

public sealed class MapWatcherTooSlowException(int backlog)
    : Exception($"the watcher fell more than {backlog} maps behind; reconnect from the last epoch received");
