using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands;

/// <summary>Calls to the VmAgent service of the node a VM runs on (proto/vm.proto).</summary>
public sealed class VmAgentClient : IDisposable
{
    private static readonly RpcMethod<VmOpRequest, VmOpReply> Stop = Op("StopVm");
    private static readonly RpcMethod<VmOpRequest, VmOpReply> Reboot = Op("RebootVm");
    private static readonly RpcMethod<VmOpRequest, VmOpReply> Pause = Op("PauseVm");
    private static readonly RpcMethod<VmOpRequest, VmOpReply> Resume = Op("ResumeVm");
    private static readonly RpcMethod<VmStatusRequest, VmStatusReply> Status =
        RpcMethod.From<VmStatusRequest, VmStatusReply>(VmReflection.Descriptor, "fabric.VmAgent", "GetVmStatus");
    private static readonly RpcMethod<ConsoleRequest, ConsoleChunk> ReadConsole =
        RpcMethod.From<ConsoleRequest, ConsoleChunk>(VmReflection.Descriptor, "fabric.VmAgent", "ReadConsole");
    private static readonly RpcMethod<ConsoleRequest, ConsoleChunk> FollowConsole =
        RpcMethod.From<ConsoleRequest, ConsoleChunk>(VmReflection.Descriptor, "fabric.VmAgent", "FollowConsole");

    private static readonly RpcMethod<MigrateRequest, MigrationEvent> Migrate =
        RpcMethod.From<MigrateRequest, MigrationEvent>(VmReflection.Descriptor, "fabric.VmAgent", "Migrate");
    private static readonly RpcMethod<VmOpRequest, VmOpReply> CancelMigration = Op("CancelMigration");
    private static readonly RpcMethod<ListMigrationsRequest, ListMigrationsReply> ListMigrations =
        RpcMethod.From<ListMigrationsRequest, ListMigrationsReply>(VmReflection.Descriptor, "fabric.VmAgent", "ListMigrations");

    private readonly RpcChannel _channel;

    public VmAgentClient(NodeInfo node)
    {
        Node = node;
        _channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
    }

    public NodeInfo Node { get; }

    private static RpcMethod<VmOpRequest, VmOpReply> Op(string name) => RpcMethod.From<VmOpRequest, VmOpReply>(VmReflection.Descriptor, "fabric.VmAgent", name);

    public Task<VmOpReply> StopAsync(string vm, TimeSpan? timeout, TimeSpan callTimeout, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(Stop, new VmOpRequest { Name = vm, TimeoutMs = (uint)(timeout?.TotalMilliseconds ?? 0) }, CallOptions.WithTimeout(callTimeout, cancellationToken));

    public Task<VmOpReply> RebootAsync(string vm, TimeSpan? timeout, TimeSpan callTimeout, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(Reboot, new VmOpRequest { Name = vm, TimeoutMs = (uint)(timeout?.TotalMilliseconds ?? 0) }, CallOptions.WithTimeout(callTimeout, cancellationToken));

    public Task<VmOpReply> PauseAsync(string vm, bool pause, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(pause ? Pause : Resume, new VmOpRequest { Name = vm }, CallOptions.WithTimeout(TimeSpan.FromSeconds(30), cancellationToken));

    public async Task<VmRuntimeStatus?> StatusAsync(string vm, CancellationToken cancellationToken)
    {
        var reply = await _channel.UnaryAsync(Status, new VmStatusRequest { Name = vm }, CallOptions.WithTimeout(TimeSpan.FromSeconds(3), cancellationToken)).ConfigureAwait(false);
        return reply.Vms.FirstOrDefault();
    }

    public Task<ConsoleChunk> ReadConsoleAsync(string vm, long offset, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(ReadConsole, new ConsoleRequest { Name = vm, Offset = offset, MaxBytes = 1 << 20 }, CallOptions.WithTimeout(TimeSpan.FromSeconds(10), cancellationToken));

    public ServerStreamingCall<ConsoleChunk> FollowConsoleAsync(string vm, long offset, CancellationToken cancellationToken) =>
        _channel.ServerStreaming(FollowConsole, new ConsoleRequest { Name = vm, Offset = offset }, new CallOptions { CancellationToken = cancellationToken });

    /// <summary>Runs a live migration on this (the source) node: progress events, then the report.</summary>
    public ServerStreamingCall<MigrationEvent> MigrateAsync(MigrateRequest request, CancellationToken cancellationToken) =>
        _channel.ServerStreaming(Migrate, request, new CallOptions { CancellationToken = cancellationToken });

    public Task<VmOpReply> CancelMigrationAsync(string vm, CancellationToken cancellationToken) =>
        _channel.UnaryAsync(CancelMigration, new VmOpRequest { Name = vm }, CallOptions.WithTimeout(TimeSpan.FromSeconds(10), cancellationToken));

    public Task<ListMigrationsReply> ListMigrationsAsync(CancellationToken cancellationToken) =>
        _channel.UnaryAsync(ListMigrations, new ListMigrationsRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(3), cancellationToken));

    public void Dispose() => _channel.Dispose();

    /// <summary>True when the error means the node did not answer at all (as opposed to a refusal).</summary>
    public static bool IsUnreachable(RpcException e) => e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded;
}
