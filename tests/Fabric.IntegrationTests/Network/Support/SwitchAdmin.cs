using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>A node's SwitchAdmin service (proto/switch.proto), called directly by tests.</summary>
public sealed class SwitchAdmin : IDisposable
{
    private static readonly RpcMethod<AttachPortRequest, AttachPortReply> Attach = Method<AttachPortRequest, AttachPortReply>("AttachPort");
    private static readonly RpcMethod<DetachPortRequest, DetachPortReply> Detach = Method<DetachPortRequest, DetachPortReply>("DetachPort");
    private static readonly RpcMethod<ActivatePortRequest, ActivatePortReply> Activate = Method<ActivatePortRequest, ActivatePortReply>("ActivatePort");
    private static readonly RpcMethod<PortStatsRequest, PortStatsReply> Stats = Method<PortStatsRequest, PortStatsReply>("PortStats");
    private static readonly RpcMethod<ListNetworksRequest, ListNetworksReply> List = Method<ListNetworksRequest, ListNetworksReply>("ListNetworks");
    private static readonly RpcMethod<FdbRequest, FdbReply> FdbMethod = Method<FdbRequest, FdbReply>("Fdb");

    private readonly RpcChannel _channel;

    public SwitchAdmin(string node, string grpcAddress)
    {
        Node = node;
        _channel = new RpcChannel(grpcAddress);
    }

    public string Node { get; }

    private static CallOptions Timeout => CallOptions.WithTimeout(TimeSpan.FromSeconds(10));

    public Task<AttachPortReply> AttachAsync(AttachPortRequest request) => _channel.UnaryAsync(Attach, request, Timeout);

    public Task<DetachPortReply> DetachAsync(string port) => _channel.UnaryAsync(Detach, new DetachPortRequest { Port = port }, Timeout);

    public Task ActivateAsync(string port) => _channel.UnaryAsync(Activate, new ActivatePortRequest { Port = port }, Timeout);

    public async Task<PortStatsEntry> PortAsync(string port) => (await _channel.UnaryAsync(Stats, new PortStatsRequest { Port = port }, Timeout)).Ports.Single();

    public Task<ListNetworksReply> NetworksAsync() => _channel.UnaryAsync(List, new ListNetworksRequest(), Timeout);

    public Task<FdbReply> FdbAsync(string network) => _channel.UnaryAsync(FdbMethod, new FdbRequest { Network = network }, Timeout);

    /// <summary>Frames a port dropped for one reason ("spoofedmac", "acl", ...).</summary>
    public async Task<ulong> DropsAsync(string port, string reason) =>
        (await PortAsync(port)).Drops.Where(d => d.Reason == reason).Select(d => d.Packets).FirstOrDefault();

    private static RpcMethod<TRequest, TResponse> Method<TRequest, TResponse>(string name)
        where TRequest : class, Google.Protobuf.IMessage<TRequest>, new()
        where TResponse : class, Google.Protobuf.IMessage<TResponse>, new() =>
        RpcMethod.From<TRequest, TResponse>(SwitchReflection.Descriptor, "fabric.SwitchAdmin", name);

    public void Dispose() => _channel.Dispose();
}
