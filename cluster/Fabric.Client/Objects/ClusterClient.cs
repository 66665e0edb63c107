using Fabric.Proto;
using Microsoft.Extensions.Logging;

namespace Fabric.Client.Objects;

/// <summary>
/// An <see cref="ObjectClient"/> on real TCP, following an <see cref="IMapSource"/> and ticking on a
/// timer: what the CLI, the node's block backend and the benchmarks use. Ops older than
/// FABRIC_SLOW_OP_SECONDS (<see cref="SlowOpThreshold"/>) are logged to <c>logger</c> at Warning.
/// </summary>
public sealed class ClusterClient : IAsyncDisposable
{
    private readonly TcpClientTransport _transport;
    private readonly IMapSource _maps;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watch;
    private readonly ITimer _timer;

    /// <param name="slowOpMs">Age at which an op is logged as slow; null: FABRIC_SLOW_OP_SECONDS or its default.</param>
    public ClusterClient(IMapSource maps, string identity, TimeProvider? time = null, int resendTimeoutMs = 15000, ILogger? logger = null,
        long? slowOpMs = null)
    {
        _maps = maps;
        TimeProvider provider = time ?? TimeProvider.System;
        _transport = new TcpClientTransport(identity, provider);
        Objects = new ObjectClient(identity, _transport, resendTimeoutMs, logger, slowOpMs ?? SlowOpThreshold.FromEnvironment());
        _transport.Attach(Objects);
        Objects.OnMap(maps.Current);
        _watch = WatchAsync();
        _timer = provider.CreateTimer(_ => Objects.Tick(), null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
    }

    public ObjectClient Objects { get; }

    public ClusterMap Map => _maps.Current;

    public IMapSource MapSource => _maps;

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _timer.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _watch.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _transport.Dispose();
        _stop.Dispose();
    }

    private async Task WatchAsync()
    {
        ulong epoch = _maps.Current.Epoch;
        while (!_stop.IsCancellationRequested)
        {
            ClusterMap map;
            try
            {
                map = await _maps.WaitForNewerAsync(epoch, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            epoch = map.Epoch;
            Objects.OnMap(map);
        }
    }
}
