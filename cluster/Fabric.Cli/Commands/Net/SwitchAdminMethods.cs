using Fabric.Proto;
using Fabric.Rpc.Methods;

namespace Fabric.Cli.Commands.Net;

/// <summary>The SwitchAdmin methods (proto/switch.proto) every node serves for its own switch.</summary>
internal static class SwitchAdminMethods
{
    private const string Service = "fabric.SwitchAdmin";

    public static readonly RpcMethod<ListNetworksRequest, ListNetworksReply> ListNetworks = Method<ListNetworksRequest, ListNetworksReply>("ListNetworks");
    public static readonly RpcMethod<ShowNetworkRequest, ShowNetworkReply> ShowNetwork = Method<ShowNetworkRequest, ShowNetworkReply>("ShowNetwork");
    public static readonly RpcMethod<FdbRequest, FdbReply> Fdb = Method<FdbRequest, FdbReply>("Fdb");
    public static readonly RpcMethod<TraceRequest, TraceReply> Trace = Method<TraceRequest, TraceReply>("Trace");
    public static readonly RpcMethod<CaptureRequest, CaptureChunk> Capture = Method<CaptureRequest, CaptureChunk>("Capture");
    public static readonly RpcMethod<PortStatsRequest, PortStatsReply> PortStats = Method<PortStatsRequest, PortStatsReply>("PortStats");
    public static readonly RpcMethod<FlowsRequest, FlowsReply> Flows = Method<FlowsRequest, FlowsReply>("Flows");
    public static readonly RpcMethod<AttachPortRequest, AttachPortReply> AttachPort = Method<AttachPortRequest, AttachPortReply>("AttachPort");
    public static readonly RpcMethod<DetachPortRequest, DetachPortReply> DetachPort = Method<DetachPortRequest, DetachPortReply>("DetachPort");
    public static readonly RpcMethod<ActivatePortRequest, ActivatePortReply> ActivatePort = Method<ActivatePortRequest, ActivatePortReply>("ActivatePort");

    private static RpcMethod<TRequest, TResponse> Method<TRequest, TResponse>(string name)
        where TRequest : class, Google.Protobuf.IMessage<TRequest>, new()
        where TResponse : class, Google.Protobuf.IMessage<TResponse>, new() =>
        RpcMethod.From<TRequest, TResponse>(SwitchReflection.Descriptor, Service, name);
}
