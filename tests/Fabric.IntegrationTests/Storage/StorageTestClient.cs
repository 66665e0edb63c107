using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Map;
using Fabric.IntegrationTests.Support;
using Fabric.Membership.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.IntegrationTests.Storage;

/// <summary>
/// A storage client in the test process for a <see cref="TestCluster"/>: the same pieces the CLI and the
/// nodes use (MonitorClient → MapWatcher → WatchedMapSource → ClusterClient), with its own identity, so
/// the test writes and reads volumes over real TCP to the real OSD processes.
/// </summary>
public sealed class StorageTestClient : IAsyncDisposable
{
    private readonly MonitorClient _monitors;
    private readonly MapWatcher _watcher;

    private StorageTestClient(MonitorClient monitors, MapWatcher watcher, ClusterClient client)
    {
        _monitors = monitors;
        _watcher = watcher;
        Client = client;
    }

    public ClusterClient Client { get; }

    public static async Task<StorageTestClient> OpenAsync(TestCluster cluster)
    {
        var monitors = new MonitorClient([cluster.Grpc("n1")], TimeSpan.FromSeconds(10));
        var map = await monitors.GetLatestMapAsync(CancellationToken.None);
        var watcher = new MapWatcher(monitors, NullLogger.Instance);
        watcher.Start(map);
        var client = new ClusterClient(new WatchedMapSource(watcher), $"client.test.{Environment.ProcessId}");
        return new StorageTestClient(monitors, watcher, client);
    }

    /// <summary>Opens a volume (or a snapshot, "vol@snap"); waits (bounded) for a map that has it, since the CLI
    /// may have just created it.</summary>
    public async Task<VolumeClient> OpenVolumeAsync(string name, int maxInFlight = 64)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        int at = name.IndexOf('@');
        string volume = at < 0 ? name : name[..at];
        string? snap = at < 0 ? null : name[(at + 1)..];
        await _watcher.WaitUntilAsync(m => m.Volumes.Any(v => v.Name == volume && (snap is null || v.Snapshots.Any(s => s.Name == snap))), timeout.Token);
        return VolumeClient.Open(Client, name, out var error, maxInFlight: maxInFlight) ?? throw new InvalidOperationException(error);
    }

    /// <summary>The indexes of the volume's objects whose PG <paramref name="node"/> leads (by this client's map).</summary>
    public IReadOnlyList<int> ObjectsLedBy(VolumeClient volume, string node)
    {
        var map = Client.Map;
        var pool = map.Pools.Single(p => p.Id == map.FindVolume(volume.VolumeId)!.PoolId);
        var placement = Fabric.Core.Placement.PlacementMap.Build(map);
        uint id = map.Nodes.Single(n => n.Name == node).Id;
        return Enumerable.Range(0, (int)(volume.SizeBytes / volume.ObjectSize))
            .Where(i => placement.Get(Fabric.Core.Placement.PlacementMap.ObjectToPg(pool, VolumeClient.ObjectName(volume.VolumeId, (ulong)i)))!.Primary == (int)id)
            .ToList();
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await _watcher.DisposeAsync();
        _monitors.Dispose();
    }
}
