using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Membership.Client;
using Fabric.Proto;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Cli.Storage;

/// <summary>
/// The CLI's own storage client for one verb: a map watch over the context's monitors, a
/// <see cref="ClusterClient"/> that follows it (identity "client.cli.PID", so a blocklist entry names
/// this very process), and volumes opened on it. Disposing stops the watch and closes the connections.
/// </summary>
/// <remarks>
/// The CLI talks to the OSDs directly (like `rbd` talks to RADOS): data never goes through the
/// monitor. The watch keeps the client's map current while a long import or bench runs, so a node
/// that dies meanwhile only makes ops wait and move to the new primary.
/// </remarks>
public sealed class StorageSession : IAsyncDisposable
{
    private readonly MapWatcher _watcher;

    private StorageSession(MapWatcher watcher, ClusterClient client)
    {
        _watcher = watcher;
        Client = client;
    }

    public ClusterClient Client { get; }

    public ObjectClient Objects => Client.Objects;

    public ClusterMap Map => Client.Map;

    public static string Identity => $"client.cli.{Environment.ProcessId}";

    public static async Task<StorageSession> OpenAsync(CliContext context, CancellationToken cancellationToken)
    {
        var initial = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        var watcher = new MapWatcher(context.Monitors, NullLogger.Instance);
        watcher.Start(initial);
        var client = new ClusterClient(new WatchedMapSource(watcher), Identity);
        return new StorageSession(watcher, client);
    }

    /// <summary>Waits until the client's map has at least this epoch (after the CLI changed the map itself).</summary>
    public Task WaitForEpochAsync(ulong epoch, CancellationToken cancellationToken) => _watcher.WaitForEpochAsync(epoch, cancellationToken);

    /// <summary>Opens a volume for I/O, or a one-line error naming the fix.</summary>
    public VolumeClient OpenVolume(string name, bool readOnly = false, int maxInFlight = 64)
    {
        return VolumeClient.Open(Client, name, out var error, readOnly, maxInFlight) ?? throw new CliException(error ?? $"volume {name} does not exist");
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync().ConfigureAwait(false);
        await _watcher.DisposeAsync().ConfigureAwait(false);
    }
}
