using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Server;
using Fabric.Rpc.Streams;
using Google.Protobuf.Reflection;

namespace Fabric.Membership.Monitor;

/// <summary>
/// The gRPC face of a monitor (service fabric.Monitor in proto/monitor.proto), bound from its descriptor.
/// Writes (Join, Heartbeat, ProposeChange, ReportFailure) are served only by the active monitor; a
/// standby answers FAILED_PRECONDITION naming the active one, also in the trailer
/// <see cref="ActiveMonitorTrailer"/> so clients can redirect without parsing text. Reads (GetMap,
/// WatchMap, GetMonitorStatus) are served by every monitor.
/// </summary>
public static class MonitorService
{
    public const string ActiveMonitorTrailer = "fabric-active-monitor";

    public static ServiceDescriptor Descriptor => MonitorReflection.Descriptor.Services.Single(s => s.Name == "Monitor");

    public static void Bind(ServiceBinder binder, MonitorRunner runner)
    {
        binder
            .Unary<JoinRequest, JoinReply>("Join", async (request, context) =>
            {
                RequireActive(runner, context);
                var outcome = await runner.Core.JoinAsync(request, context.CancellationToken).ConfigureAwait(false);
                if (outcome.Error is not null) throw ToRpc(outcome.Error);
                return outcome.Reply!;
            })
            .Unary<HeartbeatRequest, HeartbeatReply>("Heartbeat", (request, context) =>
            {
                RequireActive(runner, context);
                return Task.FromResult(runner.Core.Heartbeat(request));
            })
            .Unary<GetMapRequest, ClusterMap>("GetMap", async (request, context) =>
            {
                var current = runner.Core.Current ?? throw new RpcException(StatusCode.Unavailable, $"monitor {runner.Name} has no map yet; retry");
                if (request.Epoch == 0 || request.Epoch == current.Epoch) return current;
                if (request.Epoch > current.Epoch) throw new RpcException(StatusCode.OutOfRange, $"epoch {request.Epoch} does not exist yet (newest is {current.Epoch})");
                return await runner.Core.Store.LoadAsync(request.Epoch, context.CancellationToken).ConfigureAwait(false)
                    ?? throw new RpcException(StatusCode.NotFound, $"epoch {request.Epoch} was trimmed from the map history");
            })
            .ServerStreaming<WatchMapRequest, ClusterMap>("WatchMap", async (request, stream, context) =>
            {
                if (runner.Core.Current is null) throw new RpcException(StatusCode.Unavailable, $"monitor {runner.Name} has no map yet; retry");
                var reader = runner.Core.History.Subscribe(request.FromEpoch, context.CancellationToken);
                try
                {
                    while (await reader.WaitToReadAsync(context.CancellationToken).ConfigureAwait(false))
                    {
                        while (reader.TryRead(out var map))
                        {
                            // Serialized once per epoch for all watchers, not once per watcher.
                            if (stream is IEncodedStreamWriter encoded) await encoded.WriteEncodedAsync(EncodedMaps.Of(map), context.CancellationToken).ConfigureAwait(false);
                            else await stream.WriteAsync(map, context.CancellationToken).ConfigureAwait(false);
                        }
                    }
                }
                catch (MapWatcherTooSlowException e)
                {
                    throw new RpcException(StatusCode.ResourceExhausted, e.Message);
                }
                catch (MonitorNotActiveException e)
                {
                    throw new RpcException(StatusCode.Unavailable, e.Message);
                }
            })
            .Unary<MapTransaction, ProposeReply>("ProposeChange", async (request, context) =>
            {
                RequireActive(runner, context);
                var outcome = await runner.Core.ProposeAsync(request, context.CancellationToken).ConfigureAwait(false);
                if (outcome.Error is not null) throw ToRpc(outcome.Error);
                return new ProposeReply { Epoch = outcome.Epoch, Duplicate = outcome.IsDuplicate };
            })
            .Unary<FailureReport, FailureReportReply>("ReportFailure", (request, context) =>
            {
                RequireActive(runner, context);
                runner.Core.ReportFailure(request);
                return Task.FromResult(new FailureReportReply { Accepted = true });
            })
            .Unary<MonitorStatusRequest, MonitorStatus>("GetMonitorStatus", (request, context) => Task.FromResult(new MonitorStatus
            {
                Name = runner.Name,
                Role = runner.Role switch { MonitorRole.Active => "active", MonitorRole.Standby => "standby", _ => "electing" },
                Active = runner.ActiveName,
                ActiveAddress = runner.ActiveAddress,
                Epoch = runner.Core.Current?.Epoch ?? 0,
                Store = runner.Core.Store.Kind,
                UptimeMs = (long)runner.Uptime.TotalMilliseconds,
            }));
    }

    private static void RequireActive(MonitorRunner runner, ServerCallContext context)
    {
        // One read of each: the runner's loop changes them while this runs (it names itself active, then takes the role).
        var role = runner.Role;
        if (role == MonitorRole.Active && runner.Core.Current is not null) return;
        var (detail, redirectTo) = NotActiveRefusal(runner.Name, role, runner.ActiveName, runner.ActiveAddress);
        var trailers = new Metadata();
        if (redirectTo is not null) trailers.Add(ActiveMonitorTrailer, redirectTo);
        throw new RpcException(StatusCode.FailedPrecondition, detail, trailers);
    }

    /// <summary>
    /// What a monitor that may not take a change answers, and where it sends the client (the active monitor's address,
    /// for <see cref="ActiveMonitorTrailer"/>). A monitor that names itself active without holding the role (it is
    /// becoming active, or just stepped down) redirects nowhere and says "no monitor is active yet", which clients
    /// retry; before, it could send a trailer-less refusal naming itself that a client read as final (a node's join
    /// failed that way at start-up).
    /// </summary>
    public static (string Detail, string? RedirectTo) NotActiveRefusal(string name, MonitorRole role, string activeName, string activeAddress)
    {
        var what = role == MonitorRole.Standby ? "a standby" : role == MonitorRole.Active ? "starting" : "electing";
        if (activeName.Length == 0 || activeAddress.Length == 0 || activeName == name)
        {
            return ($"monitor {name} is {what}: no monitor is active yet; retry shortly", null);
        }
        return ($"monitor {name} is {what}: the active monitor is {activeName} at {activeAddress}", activeAddress);
    }

    public static RpcException ToRpc(MapError error) => new(error.Kind switch
    {
        MapErrorKind.StaleEpoch => StatusCode.Aborted,
        MapErrorKind.NotFound => StatusCode.NotFound,
        MapErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        MapErrorKind.Invalid => StatusCode.InvalidArgument,
        _ => StatusCode.FailedPrecondition,
    }, error.Message);
}
