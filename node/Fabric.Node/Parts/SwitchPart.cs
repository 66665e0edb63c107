using System.Net.Sockets;
using System.Threading.Channels;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Server;
using Fabric.Switch.Admin;
using Fabric.Switch.Control;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Parts;

/// <summary>
/// The node's virtual switch: a <see cref="VirtualSwitch"/> whose VXLAN endpoint binds the node's data
/// address and vxlan_port, whose VLAN networks leave by the node's uplink, and which follows every map
/// (networks, other nodes' endpoints, VM MACs placed elsewhere). Serves SwitchAdmin (proto/switch.proto)
/// for `fabric net ...`, and hands the switch to the hypervisor as <see cref="NodeContext.SwitchPorts"/>.
/// </summary>
/// <remarks>
/// Maps arrive in epoch order on the watcher's thread, which must not block: the part keeps only the
/// newest map not yet applied and applies it on its own task (ApplyMap brings the switch to a map's
/// state, so skipping an intermediate epoch loses nothing). Admin errors map to status codes:
/// unknown network or port NOT_FOUND, a request that makes no sense INVALID_ARGUMENT, a port that
/// cannot be attached now FAILED_PRECONDITION, a switch that has not started UNAVAILABLE.
/// </remarks>
public sealed partial class SwitchPart : INodePart
{
    private readonly Channel<ClusterMap> _maps = Channel.CreateBounded<ClusterMap>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
        SingleReader = true,
    });
    private readonly CancellationTokenSource _stop = new();
    private VirtualSwitch? _switch;
    private SwitchAdminService? _admin;
    private NodeContext? _node;
    private ILogger _log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private Task? _applyLoop;
    private string _state = "starting";
    private string _failure = "";

    public string Name => "switch";

    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => SwitchReflection.Descriptor.Services.Single(s => s.Name == "SwitchAdmin");

    /// <summary>The running switch (null before start or when it failed to start).</summary>
    public VirtualSwitch? Switch => _switch;

    public void BindServices(RpcServerBuilder server)
    {
        server.AddService(Descriptor, binder => binder
            .Unary<ListNetworksRequest, ListNetworksReply>("ListNetworks", (r, c) => Call((a, ct) => a.ListNetworks(r, ct), c))
            .Unary<ShowNetworkRequest, ShowNetworkReply>("ShowNetwork", (r, c) => Call((a, ct) => a.ShowNetwork(r, ct), c))
            .Unary<FdbRequest, FdbReply>("Fdb", (r, c) => Call((a, ct) => a.Fdb(r, ct), c))
            .Unary<TraceRequest, TraceReply>("Trace", (r, c) => Call((a, ct) => a.Trace(r, ct), c))
            .ServerStreaming<CaptureRequest, CaptureChunk>("Capture", (r, stream, c) => Call(async (a, ct) =>
            {
                await foreach (var chunk in a.Capture(r, ct).ConfigureAwait(false)) await stream.WriteAsync(chunk, ct).ConfigureAwait(false);
                return true;
            }, c))
            .Unary<PortStatsRequest, PortStatsReply>("PortStats", (r, c) => Call((a, ct) => a.PortStats(r, ct), c))
            .Unary<FlowsRequest, FlowsReply>("Flows", (r, c) => Call((a, ct) => a.Flows(r, ct), c))
            .Unary<AttachPortRequest, AttachPortReply>("AttachPort", (r, c) => Call((a, ct) => a.AttachPort(r, ct), c))
            .Unary<DetachPortRequest, DetachPortReply>("DetachPort", (r, c) => Call((a, ct) => a.DetachPort(r, ct), c))
            .Unary<ActivatePortRequest, ActivatePortReply>("ActivatePort", (r, c) => Call((a, ct) => a.ActivatePort(r, ct), c)));
    }

    private async Task<T> Call<T>(Func<SwitchAdminService, CancellationToken, Task<T>> handler, ServerCallContext context)
    {
        var admin = _admin ?? throw new RpcException(StatusCode.Unavailable,
            _state == "failed" ? $"the switch of this node failed to start: {_failure}" : "the switch of this node has not started yet");
        try
        {
            return await handler(admin, context.CancellationToken).ConfigureAwait(false);
        }
        catch (KeyNotFoundException e)
        {
            throw new RpcException(StatusCode.NotFound, e.Message);
        }
        catch (ArgumentException e)
        {
            throw new RpcException(StatusCode.InvalidArgument, e.Message);
        }
        catch (ObjectDisposedException)
        {
            throw new RpcException(StatusCode.Unavailable, "the switch of this node is stopping");
        }
        catch (InvalidOperationException e)
        {
            throw new RpcException(StatusCode.FailedPrecondition, e.Message);
        }
    }

    public async Task StartAsync(NodeContext node, CancellationToken cancellationToken)
    {
        _node = node;
        _log = node.LoggerFactory.CreateLogger("Fabric.Switch");
        var options = new SwitchOptions
        {
            NodeName = node.Node.Name,
            DataAddress = node.Node.Data.AddressFamily == AddressFamily.InterNetwork ? node.Node.Data.ToString() : "",
            VxlanPort = checked((ushort)node.Node.VxlanPort),
            Uplink = node.Node.Uplink ?? "",
        };
        var sw = new VirtualSwitch(options, node.Time, node.LoggerFactory.CreateLogger<VirtualSwitch>());
        try
        {
            await sw.StartAsync(cancellationToken).ConfigureAwait(false);
            await sw.ApplyMapAsync(node.Map, node.NodeId, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _state = "failed";
            _failure = e.Message;
            await sw.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        _switch = sw;
        _admin = new SwitchAdminService(sw);
        node.SwitchPorts = sw;
        _applyLoop = Task.Run(() => ApplyLoopAsync(sw, node.NodeId, _stop.Token));
        node.Maps.MapChanged += OnMap;
        // A map that arrived between the first apply and the subscription: the loop skips it when older.
        if (node.Maps.Current is { } current) _maps.Writer.TryWrite(current);
        _state = "running";
    }

    /// <summary>On the watcher's thread: never blocks; the newest map replaces one not applied yet.</summary>
    private void OnMap(ClusterMap map) => _maps.Writer.TryWrite(map);

    private async Task ApplyLoopAsync(VirtualSwitch sw, uint nodeId, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var map in _maps.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (map.Epoch <= sw.AppliedEpoch) continue;
                try
                {
                    await sw.ApplyMapAsync(map, nodeId, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogApplyFailed(map.Epoch, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    public SubsystemStatus Status
    {
        get
        {
            var sw = _switch;
            if (sw is null) return new SubsystemStatus { Name = Name, State = _state, Detail = _failure };
            var tunnel = sw.Tunnel is null ? "no VXLAN endpoint" : $"vxlan on {sw.Options.DataAddress}:{sw.Options.VxlanPort}";
            var uplink = sw.Options.Uplink.Length > 0 ? $", uplink {sw.Options.Uplink}" : "";
            var ports = sw.Ports.Count(p => p.Kind is Fabric.Switch.Ports.PortKind.Vm or Fabric.Switch.Ports.PortKind.Access);
            var problems = sw.Problems.Count > 0 ? "; " + string.Join("; ", sw.Problems) : "";
            return new SubsystemStatus
            {
                Name = Name,
                State = sw.Problems.Count > 0 ? "degraded" : "running",
                Detail = $"{tunnel}{uplink}, {ports} port(s), map epoch {sw.AppliedEpoch}{problems}",
            };
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_node is not null)
        {
            _node.Maps.MapChanged -= OnMap;
            if (ReferenceEquals(_node.SwitchPorts, _switch)) _node.SwitchPorts = null;
        }
        _maps.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_applyLoop is not null) await _applyLoop.ConfigureAwait(false);
        if (_switch is not null) await _switch.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "the switch could not apply map epoch {Epoch}: {Error}")]
    private partial void LogApplyFailed(ulong epoch, string error);
}
