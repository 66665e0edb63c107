using Fabric.Hypervisor.Runtime;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Server;
using Fabric.Rpc.Streams;
using Google.Protobuf.Reflection;

namespace Fabric.Node.Vms;

/// <summary>
/// The node's VmAgent service (proto/vm.proto): operations on the VMs that run here. Refusals are
/// answers (<see cref="VmOpReply"/> with a code and a message), not errors; a VM this node never ran is
/// NOT_FOUND for the console.
/// </summary>
public static class VmAgentService
{
    private const int DefaultChunkBytes = 64 * 1024;
    private static readonly TimeSpan FollowPoll = TimeSpan.FromMilliseconds(200);

    public static ServiceDescriptor Descriptor => VmReflection.Descriptor.Services.Single(s => s.Name == "VmAgent");

    /// <param name="runtime">The node's runtime and node name; throws UNAVAILABLE until the part has started.</param>
    /// <param name="migrations">The node's live migrations; throws UNAVAILABLE until the part has started.</param>
    public static void Bind(ServiceBinder binder, Func<(VmRuntime Runtime, string Node)> runtime, Func<VmMigrations> migrations)
    {
        binder
            .ServerStreaming<MigrateRequest, MigrationEvent>("Migrate", (request, stream, context) =>
            {
                if (!Fabric.Core.Map.MapTransactions.IsName(request.Name)) throw new RpcException(StatusCode.InvalidArgument, $"'{request.Name}' is not a VM name");
                return migrations().MigrateAsync(request, stream, context.CancellationToken);
            })
            .Unary<VmOpRequest, VmOpReply>("CancelMigration", (request, _) => Task.FromResult(migrations().Cancel(request.Name)))
            .Unary<ListMigrationsRequest, ListMigrationsReply>("ListMigrations", (_, _) =>
            {
                var (_, node) = runtime();
                var reply = new ListMigrationsReply { Node = node };
                reply.Migrations.AddRange(migrations().List());
                return Task.FromResult(reply);
            })
            .Unary<PrepareIncomingRequest, PrepareIncomingReply>("PrepareIncoming", (request, context) => migrations().PrepareIncomingAsync(request, context.CancellationToken))
            .Unary<IncomingRequest, VmOpReply>("SwitchoverIncoming", (request, context) => migrations().SwitchoverIncomingAsync(request, context.CancellationToken))
            .Unary<IncomingRequest, VmOpReply>("AbortIncoming", (request, context) => migrations().AbortIncomingAsync(request, context.CancellationToken));

        binder
            .Unary<VmStatusRequest, VmStatusReply>("GetVmStatus", (request, _) =>
            {
                var (r, node) = runtime();
                var reply = new VmStatusReply { Node = node };
                var statuses = request.Name.Length > 0 ? (r.GetStatus(request.Name) is { } one ? [one] : []) : r.List();
                reply.Vms.AddRange(statuses.Select(ToProto));
                return Task.FromResult(reply);
            })
            .Unary<ConsoleRequest, ConsoleChunk>("ReadConsole", (request, _) =>
            {
                var (r, node) = runtime();
                var path = ConsolePath(r, node, request.Name);
                var (text, next) = ConsoleLog.Read(path, request.Offset, MaxBytes(request));
                return Task.FromResult(new ConsoleChunk { Text = text, NextOffset = next });
            })
            .ServerStreaming<ConsoleRequest, ConsoleChunk>("FollowConsole", (request, stream, context) => FollowAsync(runtime, request, stream, context.CancellationToken))
            .Unary<VmOpRequest, VmOpReply>("StopVm", async (request, context) =>
            {
                var (r, _) = runtime();
                var timeout = request.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(request.TimeoutMs) : (TimeSpan?)null;
                return Reply(r, request.Name, await r.StopAsync(request.Name, timeout, context.CancellationToken).ConfigureAwait(false));
            })
            .Unary<VmOpRequest, VmOpReply>("RebootVm", async (request, context) =>
            {
                var (r, _) = runtime();
                var timeout = request.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(request.TimeoutMs) : (TimeSpan?)null;
                return Reply(r, request.Name, await r.RebootAsync(request.Name, timeout, context.CancellationToken).ConfigureAwait(false));
            })
            .Unary<VmOpRequest, VmOpReply>("PauseVm", async (request, context) =>
            {
                var (r, _) = runtime();
                return Reply(r, request.Name, await r.PauseAsync(request.Name, context.CancellationToken).ConfigureAwait(false));
            })
            .Unary<VmOpRequest, VmOpReply>("ResumeVm", async (request, context) =>
            {
                var (r, _) = runtime();
                return Reply(r, request.Name, await r.ResumeAsync(request.Name, context.CancellationToken).ConfigureAwait(false));
            });
    }

    private static int MaxBytes(ConsoleRequest request) => request.MaxBytes is > 0 and <= 1 << 20 ? (int)request.MaxBytes : DefaultChunkBytes;

    private static string ConsolePath(VmRuntime runtime, string node, string name)
    {
        if (!Fabric.Core.Map.MapTransactions.IsName(name))
        {
            throw new RpcException(StatusCode.InvalidArgument, $"'{name}' is not a VM name");
        }
        var path = runtime.ConsoleLogPath(name);
        if (!File.Exists(path))
        {
            throw new RpcException(StatusCode.NotFound, $"VM {name} has no console log on node {node} (it has not run there)");
        }
        return path;
    }

    private static async Task FollowAsync(Func<(VmRuntime Runtime, string Node)> runtime, ConsoleRequest request, IServerStreamWriter<ConsoleChunk> stream, CancellationToken cancellationToken)
    {
        var (r, node) = runtime();
        var path = ConsolePath(r, node, request.Name);
        var offset = request.Offset;
        var max = MaxBytes(request);
        while (!cancellationToken.IsCancellationRequested)
        {
            var (text, next) = ConsoleLog.Read(path, offset, max);
            offset = next;
            if (text.Length > 0)
            {
                await stream.WriteAsync(new ConsoleChunk { Text = text, NextOffset = next }, cancellationToken).ConfigureAwait(false);
                continue;
            }
            try
            {
                await Task.Delay(FollowPoll, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static VmOpReply Reply(VmRuntime runtime, string name, VmOperationResult result) => new()
    {
        Ok = result.Ok,
        Code = result.Ok ? "" : CodeText(result.Code),
        Error = result.Error ?? "",
        State = runtime.GetStatus(name)?.State ?? VmState.Stopped,
    };

    private static string CodeText(VmErrorCode code) => code switch
    {
        VmErrorCode.NotFound => "not_found",
        VmErrorCode.AlreadyExists => "already_exists",
        VmErrorCode.InvalidState => "invalid_state",
        VmErrorCode.InvalidSpec => "invalid_spec",
        VmErrorCode.ResourceFailed => "resource_failed",
        VmErrorCode.QemuFailed => "qemu_failed",
        VmErrorCode.Timeout => "timeout",
        VmErrorCode.Cancelled => "cancelled",
        _ => code.ToString().ToLowerInvariant(),
    };

    private static VmRuntimeStatus ToProto(VmStatus s) => new()
    {
        Name = s.Name,
        State = s.State,
        Reason = s.Reason,
        Pid = s.Pid ?? 0,
        Accel = s.Accel,
        Generation = s.Generation,
        StartedUnixMs = s.StartedAt?.ToUnixTimeMilliseconds() ?? 0,
        Restarts = (uint)s.Restarts,
        ConsoleLog = s.ConsoleLogPath,
        RunDirectory = s.RunDirectory,
    };
}
