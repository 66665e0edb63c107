using Fabric.Proto;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands.Net;

/// <summary>One node's answer to a call made to every node: the reply, or the error.</summary>
internal sealed record NodeAnswer<T>(NodeInfo Node, T? Reply, RpcException? Error)
    where T : class
{
    public bool NotFound => Error?.StatusCode == StatusCode.NotFound;

    public string ErrorText => Error is null ? "" : $"{Error.Detail} ({Error.StatusCode})";
}
