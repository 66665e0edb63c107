using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;

namespace Fabric.Node.Vms;

/// <summary>
/// This node's calls to another node's VmAgent (the destination of a live migration): prepare the incoming
/// QEMU, switch over, abort. One channel per call site; refusals come back as replies, unreachable nodes as
/// <see cref="Fabric.Rpc.Protocol.RpcException"/>.
/// </summary>
public sealed class PeerVmAgent : IDisposable
{
    private static readonly RpcMethod<PrepareIncomingRequest, PrepareIncomingReply> Prepare =
        RpcMethod.From<PrepareIncomingRequest, PrepareIncomingReply>(VmReflection.Descriptor, "fabric.VmAgent", "PrepareIncoming");
    private static readonly RpcMethod<IncomingRequest, VmOpReply> Switchover =
        RpcMethod.From<IncomingRequest, VmOpReply>(VmReflection.Descriptor, "fabric.VmAgent", "SwitchoverIncoming");
    private static readonly RpcMethod<IncomingRequest, VmOpReply> Abort =
        RpcMethod.From<IncomingRequest, VmOpReply>(VmReflection.Descriptor, "fabric.VmAgent", "AbortIncoming");

    private static readonly RpcMethod<VmStatusRequest, VmStatusReply> Status =
        RpcMethod.From<VmStatusRequest, VmStatusReply>(VmReflection.Descriptor, "fabric.VmAgent", "GetVmStatus");

    private readonly RpcChannel _channel;

    public PeerVmAgent(NodeInfo node)
    {
        Node = node;
        _channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
    }

    public NodeInfo Node { get; }

    public Task<PrepareIncomingReply> PrepareIncomingAsync(PrepareIncomingRequest request, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(Prepare, request, CallOptions.WithTimeout(TimeSpan.FromSeconds(60), cancellationToken));

    public Task<VmOpReply> SwitchoverIncomingAsync(IncomingRequest request, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(Switchover, request, CallOptions.WithTimeout(TimeSpan.FromSeconds(15), cancellationToken));

    public Task<VmOpReply> AbortIncomingAsync(IncomingRequest request, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(Abort, request, CallOptions.WithTimeout(TimeSpan.FromSeconds(15), cancellationToken));

    /// <summary>The live status of one VM there: also the "is it still answering" check before a switch-over.</summary>
    public Task<VmStatusReply> StatusAsync(string vm, TimeSpan timeout, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(Status, new VmStatusRequest { Name = vm }, CallOptions.WithTimeout(timeout, cancellationToken));

    public void Dispose() => _channel.Dispose();
}
