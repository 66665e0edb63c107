using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Membership.Client;
using Fabric.Proto;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Bench.DataServices;

/// <summary>
/// A storage client of a real cluster for the data-services tools: monitor client, map watch and a
/// <see cref="ClusterClient"/> with a chosen identity (the same pieces the CLI and the nodes use).
/// </summary>
public sealed class BenchCluster : IAsyncDisposable
{
    private readonly MapWatcher _watcher;

    private BenchCluster(MonitorClient monitors, MapWatcher watcher, ClusterClient client)
    {
        Monitors = monitors;
        _watcher = watcher;
        Client = client;
    }

    public MonitorClient Monitors { get; }

    public ClusterClient Client { get; }

    public ClusterMap Map => Client.Map;

    public Func<MapTransaction, CancellationToken, Task<ulong>> Propose => VolumeLocks.ProposerOf(Monitors);

    public static async Task<BenchCluster> ConnectAsync(string monitors, string identity, CancellationToken cancellationToken)
    {
        var client = new MonitorClient(monitors.Split(',', StringSplitOptions.RemoveEmptyEntries), TimeSpan.FromSeconds(15));
        ClusterMap map = await client.GetLatestMapAsync(cancellationToken);
        var watcher = new MapWatcher(client, NullLogger.Instance);
        watcher.Start(map);
        return new BenchCluster(client, watcher, new ClusterClient(new WatchedMapSource(watcher), identity));
    }

    public Task WaitForEpochAsync(ulong epoch, CancellationToken cancellationToken) => _watcher.WaitForEpochAsync(epoch, cancellationToken);

    /// <summary>Applies changes and waits until this client's map has them.</summary>
    public async Task<ulong> ApplyAsync(CancellationToken cancellationToken, params MapChange[] changes)
    {
        ulong epoch = await Monitors.ApplyAsync("bench", cancellationToken, changes);
        await WaitForEpochAsync(epoch, cancellationToken);
        return epoch;
    }

    public VolumeClient Open(string name, int maxInFlight = 64) =>
        VolumeClient.Open(Client, name, out string? error, maxInFlight: maxInFlight) ?? throw new InvalidOperationException(error);

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await _watcher.DisposeAsync();
        Monitors.Dispose();
    }

    /// <summary>Parses --key value pairs (and bare --flags as "true").</summary>
    public static Dictionary<string, string> Options(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                continue;
            }
            string key = args[i][2..];
            options[key] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }
        return options;
    }
}
