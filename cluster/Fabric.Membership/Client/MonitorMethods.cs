using Fabric.Proto;
using Fabric.Rpc.Methods;

namespace Fabric.Membership.Client;

/// <summary>The methods of fabric.Monitor, resolved once from the generated descriptor.</summary>
public static class MonitorMethods
{
    public static readonly RpcMethod<JoinRequest, JoinReply> Join = From<JoinRequest, JoinReply>("Join");
    public static readonly RpcMethod<HeartbeatRequest, HeartbeatReply> Heartbeat = From<HeartbeatRequest, HeartbeatReply>("Heartbeat");
    public static readonly RpcMethod<GetMapRequest, ClusterMap> GetMap = From<GetMapRequest, ClusterMap>("GetMap");
    public static readonly RpcMethod<WatchMapRequest, ClusterMap> WatchMap = From<WatchMapRequest, ClusterMap>("WatchMap");
    public static readonly RpcMethod<MapTransaction, ProposeReply> ProposeChange = From<MapTransaction, ProposeReply>("ProposeChange");
    public static readonly RpcMethod<FailureReport, FailureReportReply> ReportFailure = From<FailureReport, FailureReportReply>("ReportFailure");
    public static readonly RpcMethod<MonitorStatusRequest, MonitorStatus> GetMonitorStatus = From<MonitorStatusRequest, MonitorStatus>("GetMonitorStatus");

    private static RpcMethod<TRequest, TResponse> From<TRequest, TResponse>(string name)
        where TRequest : class, Google.Protobuf.IMessage<TRequest>, new()
        where TResponse : class, Google.Protobuf.IMessage<TResponse>, new()
        => RpcMethod.From<TRequest, TResponse>(MonitorReflection.Descriptor, "fabric.Monitor", name);
}
