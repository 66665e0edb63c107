using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;
using Microsoft.Extensions.Logging;

namespace Fabric.Membership.Client;

/// <summary>
/// Keeps a WatchMap stream open to the monitors and holds the newest map. Reconnects (to the active
/// monitor first, then any other) from the last epoch it saw, so no epoch is skipped across reconnects.
/// </summary>
/// <remarks>
/// Contract: <see cref="MapChanged"/> is raised once per new epoch, in epoch order, from the watcher's
/// own loop (handlers must be quick or hand work off). Maps older than or equal to the current one
/// are ignored. A gap (the monitor trimmed the epochs in between) is logged and accepted: the map is
/// complete, only the intermediate changes are not replayed.
/// </remarks>
public sealed class MapWatcher : IAsyncDisposable
{
    private readonly MonitorClient _client;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private readonly List<(ulong Epoch, TaskCompletionSource<ClusterMap> Waiter)> _waiters = new();
    private ClusterMap? _current;
    private Task? _loop;

    public MapWatcher(MonitorClient client, ILogger log)
    {
        _client = client;
        _log = log;
    }

    public ClusterMap? Current => Volatile.Read(ref _current);

    /// <summary>Raised for each new map, in epoch order.</summary>
    public event Action<ClusterMap>? MapChanged;

    /// <summary>Number of maps received since start (for tests and metrics).</summary>
    public long MapsReceived { get; private set; }

    public void Start(ClusterMap? initial = null)
    {
        if (initial is not null) Accept(initial);
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary>Accepts a map learned another way (a Join reply): same ordering rules as the stream.</summary>
    public void Offer(ClusterMap map) => Accept(map);

    private void Accept(ClusterMap map)
    {
        List<TaskCompletionSource<ClusterMap>>? ready = null;
        lock (_gate)
        {
            var current = _current;
            if (current is not null && map.Epoch <= current.Epoch) return;
            if (current is not null && map.Epoch != current.Epoch + 1)
            {
                _log.LogInformation("Map jumped from epoch {From} to {To} (intermediate epochs trimmed)", current.Epoch, map.Epoch);
            }
            Volatile.Write(ref _current, map);
            MapsReceived++;
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Epoch <= map.Epoch)
                {
                    (ready ??= new()).Add(_waiters[i].Waiter);
                    _waiters.RemoveAt(i);
                }
            }
            // Raised under the gate so handlers see maps strictly in order even when a Join reply and
            // the stream race.
            try
            {
                MapChanged?.Invoke(map);
            }
            catch (Exception e)
            {
                _log.LogError(e, "A map handler failed at epoch {Epoch}", map.Epoch);
            }
        }
        if (ready is not null)
        {
            foreach (var waiter in ready) waiter.TrySetResult(map);
        }
    }

    /// <summary>Completes when a map with at least this epoch has arrived.</summary>
    public Task<ClusterMap> WaitForEpochAsync(ulong epoch, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_current is { } current && current.Epoch >= epoch) return Task.FromResult(current);
            var waiter = new TaskCompletionSource<ClusterMap>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((epoch, waiter));
            if (cancellationToken.CanBeCanceled)
            {
                cancellationToken.Register(() =>
                {
                    lock (_gate) _waiters.RemoveAll(w => w.Waiter == waiter);
                    waiter.TrySetCanceled(cancellationToken);
                });
            }
            return waiter.Task;
        }
    }

    /// <summary>Completes with the first map (current or later) that satisfies the condition.</summary>
    public async Task<ClusterMap> WaitUntilAsync(Func<ClusterMap, bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            var current = Current;
            if (current is not null && condition(current)) return current;
            await WaitForEpochAsync((current?.Epoch ?? 0) + 1, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        var index = 0;
        while (!stop.IsCancellationRequested)
        {
            var monitors = _client.Monitors;
            var target = _client.ActiveAddress ?? monitors[index++ % monitors.Count];
            try
            {
                var from = Current?.Epoch ?? 0;
                using var call = _client.Channel(target).ServerStreaming(MonitorMethods.WatchMap, new WatchMapRequest { FromEpoch = from }, new CallOptions { CancellationToken = stop });
                while (await call.ResponseStream.MoveNextAsync(stop).ConfigureAwait(false))
                {
                    Accept(call.ResponseStream.Current);
                    delay = TimeSpan.FromMilliseconds(100);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException e)
            {
                if (!stop.IsCancellationRequested) _log.LogDebug("Map watch on {Monitor} ended: {Status} {Detail}", target, e.StatusCode, e.Detail);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                _log.LogWarning("Map watch on {Monitor} failed: {Error}", target, e.Message);
            }
            if (_client.ActiveAddress == target) index++;
            try { await Task.Delay(delay, stop).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        _stop.Dispose();
    }
}
