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
    public static async Task<(OsdStatusReply? Status, string? Error)> StatusAsync(NodeInfo node, CancellationToken cancellationToken)
    {
        try
        {
            using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(1) });
            return (await channel.UnaryAsync(OsdStatusMethod, new OsdStatusRequest(), CallOptions.WithTimeout(CallTimeout, cancellationToken)).ConfigureAwait(false), null);
        }
        catch (RpcException e)
        {
            return (null, $"{e.StatusCode}: {e.Detail}");
        }
    }

    /// <summary>The node's OSD's ops in flight (`fabric osd ops`).</summary>
    public static async Task<(ListOsdOpsReply? Ops, string? Error)> ListOpsAsync(NodeInfo node, ListOsdOpsRequest request, CancellationToken cancellationToken)
    {
        try
        {
            using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(1) });
            return (await channel.UnaryAsync(ListOpsMethod, request, CallOptions.WithTimeout(CallTimeout, cancellationToken)).ConfigureAwait(false), null);
        }
        catch (RpcException e)
        {
            return (null, $"{e.StatusCode}: {e.Detail}");
        }
    }
}
