using Fabric.Node.Hosting;
using Fabric.Proto;
using Fabric.Rpc.Server;
using Google.Protobuf.Reflection;

namespace Fabric.Node.Admin;

/// <summary>The node's own status API (service fabric.NodeAdmin).</summary>
public static class NodeAdminService
{
    public static ServiceDescriptor Descriptor => NodeReflection.Descriptor.Services.Single(s => s.Name == "NodeAdmin");

    public static void Bind(ServiceBinder binder, NodeDaemon daemon)
    {
        binder.Unary<NodeStatusRequest, NodeStatus>("GetNodeStatus", (_, _) => Task.FromResult(daemon.Status()));
    }
}
