using Fabric.Client.Objects;
using Fabric.Config.Model;
using Fabric.Membership.Client;
using Fabric.Proto;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Parts;

/// <summary>What every part of a running node shares: who the node is, its config, the map and the
/// membership that keeps the node in the cluster.</summary>
public sealed class NodeContext
{
    public required ClusterConfig Config { get; init; }

    public required NodeConfig Node { get; init; }

    /// <summary>$FABRIC_HOME (state of this machine's nodes).</summary>
    public required string Home { get; init; }

    /// <summary>This node's private data directory.</summary>
    public required string DataDir { get; init; }

    /// <summary>This node's runtime directory (sockets, pid files of its VMs).</summary>
    public required string RunDir { get; init; }

    /// <summary>The node's VM disks (the block part's exports), set when the block part has started; the
    /// hypervisor part serves VM disks through it.</summary>
    public Fabric.Core.Vm.IVmDisks? VmDisks { get; set; }

    /// <summary>The node's volume locks (set by the block part): live migration hands them over.</summary>
    public Fabric.Node.Vms.MapVolumeLocks? VolumeLocks { get; set; }

    public required ILoggerFactory LoggerFactory { get; init; }

    public required TimeProvider Time { get; init; }

    public required MonitorClient Monitors { get; init; }

    public required MapWatcher Maps { get; init; }

    public required NodeMembership Membership { get; init; }

    /// <summary>The node's map as the storage client consumes it.</summary>
    public IMapSource MapSource => _mapSource ??= new WatchedMapSource(Maps);

    private IMapSource? _mapSource;

    /// <summary>
    /// The node's storage client (object and volume I/O with the node's identity), shared by every part
    /// that reads or writes volumes (block backend, hypervisor). Created on first use; the daemon
    /// disposes it. Its slow ops (older than FABRIC_SLOW_OP_SECONDS) are logged under "Fabric.Client".
    /// </summary>
    /// <remarks>
    /// The identity names the incarnation ("node.ID.INCARNATION"): after the node rejoins (the monitor marked it
    /// down while it ran), locks it takes belong to the new incarnation, so volumes opened from then on get a new
    /// client with the new identity (the old one's writes would be refused as not the lock's owner). Volumes opened
    /// before keep their client: their locks belong to the old incarnation, and if the old incarnation was
    /// blocklisted (its VMs restarted elsewhere), their writes must stay fenced.
    /// </remarks>
    public ClusterClient StorageClient
    {
        get
        {
            lock (_clientGate)
            {
                var identity = Identity;
                if (_storageClient is not null && _storageClient.Objects.Identity != identity)
                {
                    _retiredClients.Add(_storageClient);
                    _storageClient = null;
                }
                return _storageClient ??= new ClusterClient(MapSource, identity, Time, logger: LoggerFactory.CreateLogger("Fabric.Client"));
            }
        }
    }

    private readonly object _clientGate = new();
    private ClusterClient? _storageClient;
    private readonly List<ClusterClient> _retiredClients = new();

    internal async ValueTask DisposeStorageClientAsync()
    {
        List<ClusterClient> clients;
        lock (_clientGate)
        {
            clients = [.. _retiredClients];
            if (_storageClient is not null) clients.Add(_storageClient);
        }
        foreach (var client in clients) await client.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The node's virtual switch as the hypervisor attaches VM NICs to it; set by the switch part when it
    /// starts (null when the node runs without one). Parts that need it start after the switch part.
    /// </summary>
    public Fabric.Core.Net.ISwitchPorts? SwitchPorts { get; set; }

    public uint NodeId => Membership.NodeId;

    public string Identity => Membership.Identity;

    public ClusterMap Map => Maps.Current ?? throw new InvalidOperationException("the node has no map yet");
}
