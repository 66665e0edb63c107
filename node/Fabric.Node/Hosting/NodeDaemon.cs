using System.Diagnostics;
using Fabric.Config.Model;
using Fabric.Config.Plan;
using Fabric.Core.Map;
using Fabric.Membership.Client;
using Fabric.Membership.Monitor;
using Fabric.Membership.Store;
using Fabric.Membership.Etcd;
using Fabric.Node.Admin;
using Fabric.Node.Metrics;
using Fabric.Node.Parts;
using Fabric.Proto;
using Fabric.Rpc.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Hosting;

/// <summary>
/// The node daemon: one per machine (here, one per loopback address). Wires the monitor (when this
/// node is one), membership, the parts and the gRPC server, and stops them cleanly.
/// </summary>
/// <remarks>
/// Start order: bind every service → start the gRPC server → start the monitor (if any) → join →
/// heartbeats and map watch → start parts. Stop order is the reverse, then the server. A part that
/// fails to start is reported in its status and the log; the rest of the node keeps running.
/// </remarks>
public sealed class NodeDaemon : IAsyncDisposable
{
    public static readonly string Version = typeof(NodeDaemon).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private readonly ClusterConfig _config;
    private readonly NodeConfig _node;
    private readonly string _home;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly TimeProvider _time = TimeProvider.System;
    private readonly List<INodePart> _parts;
    private readonly Stopwatch _uptime = Stopwatch.StartNew();
    private RpcServer? _server;
    private MonitorRunner? _monitor;
    private IMapStore? _mapStore;
    private EtcdClient? _etcd;
    private MonitorClient? _monitors;
    private MapWatcher? _watcher;
    private NodeMembership? _membership;
    private PrometheusExporter? _metrics;
    private NodeContext? _context;
    private System.Diagnostics.Metrics.Meter? _meter;

    public NodeDaemon(ClusterConfig config, NodeConfig node, string home, ILoggerFactory loggers, IEnumerable<INodePart> parts)
    {
        _config = config;
        _node = node;
        _home = home;
        _loggers = loggers;
        _log = loggers.CreateLogger("Fabric.Node");
        _parts = parts.ToList();
        DataDir = node.StoragePath is { Length: > 0 } path ? Path.GetFullPath(path) : Path.Combine(home, "data", node.Name);
        RunDir = Path.Combine(home, "run", node.Name);
    }

    public string DataDir { get; }

    public string RunDir { get; }

    public bool IsMonitor => _config.Cluster.Monitors.Contains(_node.Name);

    public NodeContext? Context => _context;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(DataDir);
        Directory.CreateDirectory(RunDir);
        _metrics = new PrometheusExporter(meter => meter.StartsWith("Fabric", StringComparison.Ordinal));
        _meter = new System.Diagnostics.Metrics.Meter("Fabric.Node");
        _meter.CreateObservableGauge("fabric_node_map_epoch", () => (long)(_watcher?.Current?.Epoch ?? 0), description: "Newest cluster map epoch this node has seen");
        _meter.CreateObservableGauge("fabric_node_uptime", () => _uptime.Elapsed.TotalSeconds, unit: "s", description: "Seconds since the node daemon started");
        _meter.CreateObservableGauge("fabric_node_resident_memory", () => Environment.WorkingSet, unit: "By", description: "Resident memory of the node daemon");
        _meter.CreateObservableCounter("fabric_node_maps_received", () => _watcher?.MapsReceived ?? 0, description: "Maps received on the map watch");

        var options = new RpcServerOptions { LoggerFactory = _loggers };
        options.Endpoints.Add(_node.Grpc.ToString());
        if (_node.Metrics is { } metrics) options.HttpEndpoints.Add(metrics.ToString());
        var builder = new RpcServerBuilder(options);
        builder.MapGet("/metrics", async http =>
        {
            http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await http.Response.WriteAsync(_metrics.Render()).ConfigureAwait(false);
        });

        if (IsMonitor)
        {
            _monitor = CreateMonitor();
            builder.AddService(MonitorService.Descriptor, binder => MonitorService.Bind(binder, _monitor));
        }
        builder.AddService(NodeAdminService.Descriptor, binder => NodeAdminService.Bind(binder, this));
        foreach (var part in _parts) part.BindServices(builder);

        _server = builder.Build();
        await _server.StartAsync(cancellationToken).ConfigureAwait(false);
        _log.LogInformation("Node {Name} serving gRPC on {Grpc}{Metrics} (data {DataDir})", _node.Name, _node.Grpc,
            _node.Metrics is null ? "" : $", metrics on http://{_node.Metrics}/metrics", DataDir);

        _monitor?.Start();

        var monitorAddresses = _config.Cluster.Monitors.Select(m => _config.FindNode(m)!.Grpc.ToString()).ToList();
        _monitors = new MonitorClient(monitorAddresses);
        _watcher = new MapWatcher(_monitors, _loggers.CreateLogger("Fabric.Node.MapWatcher"));
        _membership = new NodeMembership(_monitors, _watcher, JoinRequestFor(_node), _time, _loggers.CreateLogger("Fabric.Node.Membership"));
        var joined = await _membership.JoinAsync(cancellationToken).ConfigureAwait(false);
        _watcher.Start(joined.Map);
        _membership.StartHeartbeats();

        _context = new NodeContext
        {
            Config = _config,
            Node = _node,
            Home = _home,
            DataDir = DataDir,
            RunDir = RunDir,
            LoggerFactory = _loggers,
            Time = _time,
            Monitors = _monitors,
            Maps = _watcher,
            Membership = _membership,
        };
        foreach (var part in _parts)
        {
            try
            {
                await part.StartAsync(_context, cancellationToken).ConfigureAwait(false);
                _log.LogInformation("Part {Part} started", part.Name);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _log.LogError(e, "Part {Part} failed to start; the node runs without it", part.Name);
            }
        }
        _log.LogInformation("Node {Name} is up: id {Id}, incarnation {Incarnation}", _node.Name, _membership.NodeId, _membership.Incarnation);
    }

    private JoinRequest JoinRequestFor(NodeConfig node)
    {
        var info = ConfigMapping.ToNodeInfo(node);
        return new JoinRequest
        {
            Name = node.Name,
            GrpcAddress = info.GrpcAddress,
            DataAddress = info.DataAddress,
            StorageAddress = info.StorageAddress,
            FailureDomain = info.FailureDomain,
            CapacityBytes = info.CapacityBytes,
            MemoryBytes = info.MemoryBytes,
            Cpus = info.Cpus,
            Version = Version,
        };
    }

    private MonitorRunner CreateMonitor()
    {
        var log = _loggers.CreateLogger("Fabric.Monitor");
        EtcdLeaderElection? election = null;
        if (_config.Cluster.Etcd is { } etcdConfig)
        {
            _etcd = new EtcdClient(etcdConfig.Endpoints.Select(e => e.GetLeftPart(UriPartial.Authority)).ToList());
            var store = new EtcdMapStore(_etcd, etcdConfig.Prefix);
            _mapStore = store;
            election = new EtcdLeaderElection(_etcd, store.LeaderKey, TimeSpan.FromSeconds(3));
        }
        else
        {
            _mapStore = RocksDbMapStore.Open(Path.Combine(DataDir, "mon"));
        }
        var core = new MonitorCore(_mapStore, new MapHistory(), new FailureDetector(new FailureDetectorOptions(), _time), _time, log);
        return new MonitorRunner(_node.Name, _node.Grpc.ToString(), core, Genesis, election, _time, log);
    }

    private ClusterMap Genesis() => MapTransactions.Genesis(
        _config.Cluster.Name,
        Guid.NewGuid().ToString(),
        ConfigMapping.ToClusterSettings(_config.Cluster),
        ConfigMapping.ToMonitorSet(_config.Cluster),
        _time.GetUtcNow().ToUnixTimeMilliseconds());

    public NodeStatus Status()
    {
        var status = new NodeStatus
        {
            Name = _node.Name,
            Id = _membership?.NodeId ?? 0,
            Incarnation = _membership?.Incarnation ?? 0,
            Version = Version,
            Pid = Environment.ProcessId,
            UptimeMs = _uptime.ElapsedMilliseconds,
            MapEpoch = _watcher?.Current?.Epoch ?? 0,
            GrpcAddress = _node.Grpc.ToString(),
            MetricsAddress = _node.Metrics?.ToString() ?? "",
            RssBytes = (ulong)Environment.WorkingSet,
            DataDir = DataDir,
        };
        if (_monitor is not null)
        {
            status.Subsystems.Add(new SubsystemStatus
            {
                Name = "monitor",
                State = "running",
                Detail = $"{_monitor.Role.ToString().ToLowerInvariant()}, store {_mapStore?.Kind}",
            });
        }
        foreach (var part in _parts) status.Subsystems.Add(part.Status);
        return status;
    }

    public async ValueTask DisposeAsync()
    {
        _log.LogInformation("Node {Name} stopping", _node.Name);
        for (int i = _parts.Count - 1; i >= 0; i--)
        {
            try
            {
                await _parts[i].DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _log.LogWarning("Part {Part} did not stop cleanly: {Error}", _parts[i].Name, e.Message);
            }
        }
        if (_context is not null) await _context.DisposeStorageClientAsync().ConfigureAwait(false);
        if (_membership is not null) await _membership.DisposeAsync().ConfigureAwait(false);
        if (_watcher is not null) await _watcher.DisposeAsync().ConfigureAwait(false);
        if (_monitor is not null) await _monitor.DisposeAsync().ConfigureAwait(false);
        if (_server is not null) await _server.DisposeAsync().ConfigureAwait(false);
        if (_mapStore is not null) await _mapStore.DisposeAsync().ConfigureAwait(false);
        _monitors?.Dispose();
        _etcd?.Dispose();
        _metrics?.Dispose();
        _meter?.Dispose();
        _log.LogInformation("Node {Name} stopped", _node.Name);
    }
}
