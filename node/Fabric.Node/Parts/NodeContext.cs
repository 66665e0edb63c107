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

    public required ILoggerFactory LoggerFactory { get; init; }

    public required TimeProvider Time { get; init; }

    public required MonitorClient Monitors { get; init; }

    public required MapWatcher Maps { get; init; }

    public required NodeMembership Membership { get; init; }

    public uint NodeId => Membership.NodeId;

    public string Identity => Membership.Identity;

    public ClusterMap Map => Maps.Current ?? throw new InvalidOperationException("the node has no map yet");
}
