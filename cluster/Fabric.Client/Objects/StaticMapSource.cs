using Fabric.Proto;

namespace Fabric.Client.Objects;

/// <summary>An <see cref="IMapSource"/> whose map is set by hand (tests, benchmarks, tools with a fixed map).</summary>
public sealed class StaticMapSource : IMapSource
{
    private readonly object _lock = new();
    private ClusterMap _current;
    private TaskCompletionSource<ClusterMap> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StaticMapSource(ClusterMap initial) => _current = initial;

    public ClusterMap Current
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    /// <summary>Publishes a newer map (older or equal epochs are ignored).</summary>
    public void Publish(ClusterMap map)
    {
        TaskCompletionSource<ClusterMap> next;
        lock (_lock)
        {
            if (map.Epoch <= _current.Epoch)
            {
                return;
            }
            _current = map;
            next = _next;
            _next = new TaskCompletionSource<ClusterMap>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        next.TrySetResult(map);
    }

    public async Task<ClusterMap> WaitForNewerAsync(ulong epoch, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task<ClusterMap> wait;
            lock (_lock)
            {
                if (_current.Epoch > epoch)
                {
                    return _current;
                }
                wait = _next.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
