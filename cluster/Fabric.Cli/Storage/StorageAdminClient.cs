using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Storage;

/// <summary>Calls one node's StorageAdmin service (proto/storage.proto): its OSD's PGs and its status.</summary>
public static class StorageAdminClient
{
    private static readonly RpcMethod<ListPgsRequest, ListPgsReply> ListPgsMethod =
        RpcMethod.From<ListPgsRequest, ListPgsReply>(StorageReflection.Descriptor, "fabric.StorageAdmin", "ListPgs");

    private static readonly RpcMethod<OsdStatusRequest, OsdStatusReply> OsdStatusMethod =
        RpcMethod.From<OsdStatusRequest, OsdStatusReply>(StorageReflection.Descriptor, "fabric.StorageAdmin", "OsdStatus");

    private static readonly RpcMethod<ListOsdOpsRequest, ListOsdOpsReply> ListOpsMethod =
        RpcMethod.From<ListOsdOpsRequest, ListOsdOpsReply>(StorageReflection.Descriptor, "fabric.StorageAdmin", "ListOps");

    /// <summary>How long a node may take to answer before the CLI reports it as not answering.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(3);

    public static async Task<(ListPgsReply? Pgs, OsdStatusReply? Status, string? Error)> QueryAsync(NodeInfo node, uint pool, CancellationToken cancellationToken)
    {
        try
        {
            using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(1) });
            var status = channel.UnaryAsync(OsdStatusMethod, new OsdStatusRequest(), CallOptions.WithTimeout(CallTimeout, cancellationToken));
            var pgs = channel.UnaryAsync(ListPgsMethod, new ListPgsRequest { Pool = pool, PrimaryOnly = true }, CallOptions.WithTimeout(CallTimeout, cancellationToken));
            return (await pgs.ConfigureAwait(false), await status.ConfigureAwait(false), null);
        }
        catch (RpcException e)
        {
            return (null, null, $"{e.StatusCode}: {e.Detail}");
        }
    }

    /// <summary>Only the node's OSD status (`fabric osd perf`): without the PG listing, which scans the store.</summary>
    public static Task<(OsdStatusReply? Reply, string? Error)> StatusAsync(NodeInfo node, CancellationToken cancellationToken) =>
        CallAsync(node, OsdStatusMethod, new OsdStatusRequest(), cancellationToken);

    /// <summary>The node's OSD's ops in flight (`fabric osd ops`).</summary>
    public static Task<(ListOsdOpsReply? Reply, string? Error)> ListOpsAsync(NodeInfo node, ListOsdOpsRequest request, CancellationToken cancellationToken) =>
        CallAsync(node, ListOpsMethod, request, cancellationToken);

    /// <summary>
    /// Asks every node of the map at once; a node the map has down is not asked (its answer: no reply, "node is down").
    /// The answers are in the map's order of nodes.
    /// </summary>
    public static async Task<IReadOnlyList<(NodeInfo Node, TReply? Reply, string? Error)>> AskEveryNodeAsync<TReply>(ClusterMap map,
        Func<NodeInfo, Task<(TReply? Reply, string? Error)>> ask)
        where TReply : class
    {
        var nodes = map.Nodes.ToList();
        var answers = await Task.WhenAll(nodes.Select(n => n.State == NodeState.Up
            ? ask(n)
            : Task.FromResult<(TReply?, string?)>((null, "node is down")))).ConfigureAwait(false);
        return nodes.Select((n, i) => (n, answers[i].Item1, answers[i].Item2)).ToList();
    }

    /// <summary>One call to the node, on a channel of its own; an RPC error is the answer's error ("CODE: detail").</summary>
    private static async Task<(TResponse? Reply, string? Error)> CallAsync<TRequest, TResponse>(NodeInfo node, RpcMethod<TRequest, TResponse> method,
        TRequest request, CancellationToken cancellationToken)
        where TRequest : class, Google.Protobuf.IMessage<TRequest>, new()
        where TResponse : class, Google.Protobuf.IMessage<TResponse>, new()
    {
        try
        {
            using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(1) });
            return (await channel.UnaryAsync(method, request, CallOptions.WithTimeout(CallTimeout, cancellationToken)).ConfigureAwait(false), null);
        }
        catch (RpcException e)
        {
            return (null, $"{e.StatusCode}: {e.Detail}");
        }
    }
}
