using Fabric.Proto;
using Fabric.Rpc.Server;

namespace Fabric.Node.Parts;

/// <summary>
/// One subsystem of the node (storage, switch, block backend, hypervisor). The daemon creates every
/// part, lets each bind its gRPC services, starts the server, joins the cluster, then starts the parts
/// in order and stops them in reverse.
/// </summary>
public interface INodePart : IAsyncDisposable
{
    string Name { get; }

    /// <summary>Binds the part's gRPC services. Called before the server starts and before
    /// <see cref="StartAsync"/>: handlers must answer UNAVAILABLE until the part has started.</summary>
    void BindServices(RpcServerBuilder server);

    /// <summary>Starts the part once the node has joined (its id and the first map are known).</summary>
    Task StartAsync(NodeContext node, CancellationToken cancellationToken);

    SubsystemStatus Status { get; }
}
