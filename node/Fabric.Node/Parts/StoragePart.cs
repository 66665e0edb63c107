using System.Net;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Server;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Parts;

/// <summary>
/// The node's OSD: its object store (RocksDB in DATA/osd), the storage data path on data:storage_port,
/// every new map from the monitor watch, and the StorageAdmin service (PG and OSD status for the CLI).
/// The OSD id is the node id, so placement computed from the map names this node. The OSD serves as the node's
/// current incarnation: when the membership rejoins (the monitor marked the node down), the OSD is told the new
/// one, or it would take itself for not up and leave the PGs it leads without a primary.
/// </summary>
public sealed class StoragePart : INodePart
{
    private OsdHost? _osd;
    private Metrics.StorageMetrics? _metrics;
    private NodeContext? _node;
    /// <summary>Orders a rejoin against the end of start: either the rejoin sees the OSD started and forwards its
    /// incarnation, or start, after it, reads the membership's incarnation, which the rejoin set before it was raised.</summary>
    private readonly object _incarnationGate = new();
    private bool _forwardRejoins;
    private string _state = "starting";
    private string _detail = "";

    public string Name => "storage";

    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => StorageReflection.Descriptor.Services.Single(s => s.Name == "StorageAdmin");

    public void BindServices(RpcServerBuilder server)
    {
        server.AddService(Descriptor, binder => binder
            .Unary<ListPgsRequest, ListPgsReply>("ListPgs", (request, context) => Osd().ListPgsAsync(request, context.CancellationToken))
            .Unary<OsdStatusRequest, OsdStatusReply>("OsdStatus", (request, context) => Osd().OsdStatusAsync(request, context.CancellationToken))
            .Unary<ListOsdOpsRequest, ListOsdOpsReply>("ListOps", (request, context) => Osd().ListOpsAsync(request, context.CancellationToken))
            .Unary<ScrubPgRequest, ScrubPgReply>("Scrub", (request, context) => Osd().ScrubAsync(request, context.CancellationToken))
            .Unary<ScrubPgRequest, ScrubPgReply>("DeepScrub", (request, context) => Osd().DeepScrubAsync(request, context.CancellationToken))
            .Unary<ScrubPgRequest, ScrubPgReply>("Repair", (request, context) => Osd().RepairAsync(request, context.CancellationToken))
            .Unary<ListInconsistentRequest, ListInconsistentReply>("ListInconsistent", (request, context) => Osd().ListInconsistentAsync(request, context.CancellationToken))
            .Unary<VolumeUsageRequest, VolumeUsageReply>("VolumeUsage", (request, context) => Osd().VolumeUsageAsync(request, context.CancellationToken)));
    }

    private OsdHost Osd() => _osd ?? throw new RpcException(StatusCode.Unavailable, "the storage part of this node has not started yet");

    public async Task StartAsync(NodeContext node, CancellationToken cancellationToken)
    {
        _node = node;
        var log = node.LoggerFactory.CreateLogger("Fabric.Storage");
        // Subscribed before the incarnation is read: a rejoin from here on is forwarded, or read below once started.
        node.Membership.Rejoined += OnRejoined;
        OsdOptions options = OsdOptions.FromEnvironment() with { Incarnation = node.Membership.Incarnation };
        var store = RocksDbObjectStore.Open(Path.Combine(node.DataDir, "osd"), writerSyncs: true, placedWriteBlocks: options.PlacedWriteBlocks,
            journalBytes: options.JournalBytes);
        var listen = new IPEndPoint(node.Node.Data, node.Node.StoragePort);
        _osd = new OsdHost((int)node.NodeId, store, listen, options, log, node.Time,
            (peer, reason) => _ = node.Membership.ReportFailureAsync((uint)peer, reason, CancellationToken.None));
        try
        {
            await _osd.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _state = "failed";
            _detail = e.Message;
            throw;
        }
        _metrics = new Metrics.StorageMetrics(_osd.Id, _osd.Perf);
        node.Maps.MapChanged += OnMap;
        if (node.Maps.Current is { } current) _osd.OnMap(current);
        lock (_incarnationGate) _forwardRejoins = true;
        // A rejoin while the OSD was starting was not forwarded (nothing may reach the OSD before it has started).
        _osd.OnIncarnation(node.Membership.Incarnation);
        _state = "running";
        _detail = $"osd.{node.NodeId} on {listen}";
    }

    private void OnMap(ClusterMap map) => _osd?.OnMap(map);

    private void OnRejoined(ulong incarnation)
    {
        lock (_incarnationGate)
        {
            if (!_forwardRejoins) return;
        }
        _osd!.OnIncarnation(incarnation);
    }

    public SubsystemStatus Status => new() { Name = Name, State = _state, Detail = _detail };

    public async ValueTask DisposeAsync()
    {
        if (_node is not null)
        {
            _node.Maps.MapChanged -= OnMap;
            _node.Membership.Rejoined -= OnRejoined;
        }
        _metrics?.Dispose();
        if (_osd is not null) await _osd.DisposeAsync().ConfigureAwait(false);
    }
}
