using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands.Net;

/// <summary>
/// The nodes of one map as the `net` verbs talk to them: one channel per node, calls to one node (errors
/// propagate) or to every up node at once (each answer or error kept, so one node that does not answer
/// is reported without hiding the others).
/// </summary>
internal sealed class SwitchNodes : IDisposable
{
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);
    private readonly Dictionary<string, RpcChannel> _channels = new(StringComparer.Ordinal);

    public SwitchNodes(ClusterMap map) => Map = map;

    public ClusterMap Map { get; }

    /// <summary>The nodes marked up, by name.</summary>
    public IReadOnlyList<NodeInfo> Up => Map.Nodes.Where(n => n.State == NodeState.Up).OrderBy(n => n.Name, StringComparer.Ordinal).ToList();

    public IReadOnlyList<NodeInfo> Down => Map.Nodes.Where(n => n.State != NodeState.Up).OrderBy(n => n.Name, StringComparer.Ordinal).ToList();

    public NodeInfo Require(string name)
    {
        var node = Map.Nodes.FirstOrDefault(n => n.Name == name)
            ?? throw new CliException($"node {name} is not in the cluster (nodes: {string.Join(", ", Map.Nodes.Select(n => n.Name))})", CliException.Usage);
        if (node.State != NodeState.Up) throw new CliException($"node {name} is down: its switch cannot be asked (fabric node list)");
        return node;
    }

    public RpcChannel Channel(NodeInfo node)
    {
        if (!_channels.TryGetValue(node.Name, out var channel))
        {
            channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
            _channels[node.Name] = channel;
        }
        return channel;
    }

    public static CallOptions Options(CancellationToken cancellationToken) => CallOptions.WithTimeout(CallTimeout, cancellationToken);

    /// <summary>Asks one node; an RpcException becomes a one-line error naming the node.</summary>
    public async Task<T> AskAsync<T>(NodeInfo node, Func<RpcChannel, CallOptions, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(Channel(node), Options(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw new CliException($"node {node.Name}: {e.Detail}", e.StatusCode is StatusCode.InvalidArgument ? CliException.Usage : CliException.Failed);
        }
    }

    /// <summary>Asks every up node (or <paramref name="nodes"/>) in parallel.</summary>
    public async Task<IReadOnlyList<NodeAnswer<T>>> AskAllAsync<T>(Func<RpcChannel, CallOptions, Task<T>> call, CancellationToken cancellationToken, IEnumerable<NodeInfo>? nodes = null)
        where T : class
    {
        var targets = (nodes ?? Up).ToList();
        var calls = targets.Select(async node =>
        {
            try
            {
                return new NodeAnswer<T>(node, await call(Channel(node), Options(cancellationToken)).ConfigureAwait(false), null);
            }
            catch (RpcException e)
            {
                return new NodeAnswer<T>(node, null, e);
            }
        }).ToList();
        return await Task.WhenAll(calls).ConfigureAwait(false);
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values) channel.Dispose();
    }
}
