// One node's virtual switch: the control plane around a SwitchDatapath running on its own thread.
//
//   map watch ──ApplyMapAsync──┐
//   hypervisor ─ISwitchPorts───┼──> DatapathLoop.InvokeAsync ──> SwitchDatapath (datapath thread)
//   admin / metrics ───────────┘          (commands)                 ports: stream, vxlan, af_packet
//
// Networks, remote VM MACs, ARP bindings and other nodes' endpoints follow the cluster map; VM ports
// are attached by the hypervisor. Nothing here refuses a map: the monitor decided already; things the
// switch cannot do (an uplink interface that does not exist) are logged and retried with the next map.
using System.Diagnostics;
using Fabric.Core.Net;
using Fabric.Proto;
using Fabric.Switch.Datapath;
using Fabric.Switch.Native;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Switch.Control;

public sealed partial class VirtualSwitch : ISwitchPorts, IAsyncDisposable
{
    public const string TunnelPortName = "vxlan0";
    private readonly ILogger _log;
    private readonly DatapathLoop _loop;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile SwitchPort[] _ports = [];
    private VxlanTunnelPort? _tunnel;
    private readonly Dictionary<string, PacketSocketPort> _trunks = new(StringComparer.Ordinal);
    private MapView? _lastView;
    private bool _started;

    public VirtualSwitch(SwitchOptions options, TimeProvider? time = null, ILogger<VirtualSwitch>? logger = null)
    {
        Options = options;
        Time = time ?? TimeProvider.System;
        _log = logger ?? (ILogger)NullLogger.Instance;
        Datapath = new SwitchDatapath(Time, options.Uplink) { MacAgingTime = options.MacAgingTime };
        _loop = new DatapathLoop(Datapath, _log, $"switch-{options.NodeName}");
        Metrics = new SwitchMetrics(this);
    }

    public SwitchOptions Options { get; }
    public TimeProvider Time { get; }
    /// <summary>The datapath. Touch it only on the datapath thread (<see cref="InvokeAsync{T}"/>).</summary>
    internal SwitchDatapath Datapath { get; }
    public SwitchMetrics Metrics { get; }
    public uint LocalNodeId { get; private set; }
    public ulong AppliedEpoch { get; private set; }
    /// <summary>Problems found in the last map applied (bad addresses, missing uplinks), for `fabric net show`.</summary>
    public IReadOnlyList<string> Problems { get; private set; } = [];
    /// <summary>The ports (a snapshot, safe to read from any thread).</summary>
    public IReadOnlyList<SwitchPort> Ports => _ports;
    public VxlanTunnelPort? Tunnel => _tunnel;
    internal DatapathLoop Loop => _loop;

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_started) return Task.CompletedTask;
        string? ns = Options.NetworkNamespace;
        int? nice = Options.DatapathNice;
        _loop.Start(() =>
        {
            if (ns is not null) EnterNamespace(ns);
            // PRIO_PROCESS with a thread id sets that thread's nice value only (Linux).
            if (nice is int n && Libc.setpriority(0, Libc.gettid(), n) < 0)
                throw Libc.Failure($"setpriority({n}) for the datapath thread", Libc.Errno);
        });
        _started = true;
        LogStarted(Options.NodeName, ns ?? "(own)");
        return Task.CompletedTask;
    }

    private static unsafe void EnterNamespace(string path)
    {
        int fd = Libc.open(path, Libc.O_CLOEXEC);
        if (fd < 0) throw Libc.Failure($"open network namespace {path}", Libc.Errno);
        try
        {
            if (Libc.setns(fd, Libc.CLONE_NEWNET) < 0) throw Libc.Failure($"setns {path} (needs root)", Libc.Errno);
        }
        finally
        {
            Libc.close(fd);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (!_started) return;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Ports close on the datapath thread, which owns their buffers; then the thread ends.
            await _loop.InvokeAsync(dp =>
            {
                foreach (var p in dp.PortArray)
                {
                    dp.RemovePort(p.Name);
                    p.Dispose();
                }
            }).ConfigureAwait(false);
            _loop.Stop();
            _ports = [];
            _tunnel = null;
            _trunks.Clear();
            _started = false;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _loop.Dispose();
        Metrics.Dispose();
    }

    /// <summary>Runs a function on the datapath thread (admin queries, tests).</summary>
    public Task<T> InvokeAsync<T>(Func<SwitchDatapath, T> action) => _loop.InvokeAsync(action);

    /// <summary>Blocking form of <see cref="ApplyMapAsync"/> for callers without async (the map watch callback).</summary>
    public void ApplyMap(ClusterMap map, uint localNodeId) => ApplyMapAsync(map, localNodeId).GetAwaiter().GetResult();

    /// <summary>
    /// Brings the switch in line with <paramref name="map"/>: networks created, updated or removed; the
    /// other nodes' endpoints; VM MACs on other nodes pointed at their node; ARP answers for every VM IP;
    /// uplinks for VLAN networks; the VXLAN endpoint bound once this node's data address is known.
    /// </summary>
    public async Task ApplyMapAsync(ClusterMap map, uint localNodeId, CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            LocalNodeId = localNodeId;
            var view = MapTranslator.Translate(map, localNodeId, Options.Uplink);
            var problems = view.Problems.ToList();
            uint local = view.LocalAddress;
            if (Options.DataAddress.Length > 0 && !MapTranslator.TryParseAddress(Options.DataAddress, out local))
                problems.Add($"data address option '{Options.DataAddress}' is not an IPv4 address");
            if (_tunnel is null && local != 0) problems.AddRange(await OpenTunnelAsync(local).ConfigureAwait(false));
            problems.AddRange(await SyncUplinksAsync(view).ConfigureAwait(false));
            var tunnel = _tunnel;
            ushort port = Options.VxlanPort;
            await _loop.InvokeAsync(dp =>
            {
                dp.SetNodeNames(map.Nodes.Select(n => (n.Id, n.Name)));
                tunnel?.SetRemotes(view.Remotes.Select(r => (r.Node, r.Address, port)));
                dp.SetNetworks(view.Networks);
                dp.SetRemoteMacs(view.RemoteMacs);
            }).ConfigureAwait(false);
            _lastView = view;
            AppliedEpoch = map.Epoch;
            Problems = problems;
            foreach (var p in problems) LogMapProblem(map.Epoch, p);
            LogMapApplied(map.Epoch, view.Networks.Count, view.Remotes.Count, view.RemoteMacs.Count);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IEnumerable<string>> OpenTunnelAsync(uint address)
    {
        var tunnel = new VxlanTunnelPort(TunnelPortName, address, Options.VxlanPort, Options.MaxVxlanDatagram);
        try
        {
            await _loop.InvokeAsync(dp =>
            {
                tunnel.Open();
                dp.AddPort(tunnel);
            }).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            tunnel.Dispose();
            return [$"VXLAN endpoint not available: {e.Message}"];
        }
        _tunnel = tunnel;
        RefreshPortSnapshot();
        return [];
    }

    private async Task<IEnumerable<string>> SyncUplinksAsync(MapView view)
    {
        var problems = new List<string>();
        var wanted = view.Networks.Where(n => n.Kind == NetworkKind.Vlan && n.Uplink.Length > 0).Select(n => n.Uplink).ToHashSet();
        foreach (var name in _trunks.Keys.Where(k => !wanted.Contains(k)).ToList())
        {
            var old = _trunks[name];
            _trunks.Remove(name);
            await _loop.InvokeAsync(dp =>
            {
                dp.RemovePort(old.Name);
                old.Dispose();
            }).ConfigureAwait(false);
        }
        foreach (var ifname in wanted.Where(w => !_trunks.ContainsKey(w)))
        {
            var trunk = new PacketSocketPort(ifname, ifname, PortKind.Trunk) { Network = ifname };
            try
            {
                await _loop.InvokeAsync(dp =>
                {
                    trunk.Open();
                    dp.AddPort(trunk);
                }).ConfigureAwait(false);
                _trunks[ifname] = trunk;
            }
            catch (Exception e)
            {
                trunk.Dispose();
                problems.Add($"uplink {ifname}: {e.Message}; VLAN networks on it stay local to this node");
            }
        }
        RefreshPortSnapshot();
        return problems;
    }

    // ---------------------------------------------------------------- ISwitchPorts

    public async ValueTask<PortAttachResult> AttachStreamPortAsync(VmPortSpec spec, string socketPath, bool active, CancellationToken cancellationToken)
    {
        EnsureStarted();
        if (!MacAddress.TryParse(spec.Mac, out var mac) || mac.IsMulticast || mac.IsZero)
            return new PortAttachResult(false, $"port {spec.PortName}: '{spec.Mac}' is not a unicast MAC address");
        uint ip = 0;
        if (!string.IsNullOrWhiteSpace(spec.IpCidr) && !MapTranslator.TryParseCidrAddress(spec.IpCidr, out ip))
            return new PortAttachResult(false, $"port {spec.PortName}: '{spec.IpCidr}' is not an IPv4 address with prefix (10.10.0.11/24)");
        if (string.IsNullOrWhiteSpace(spec.Network))
            return new PortAttachResult(false, $"port {spec.PortName}: no network given");
        StreamPort port;
        try
        {
            port = new StreamPort(spec.PortName, socketPath) { Network = spec.Network, Mac = mac, Ipv4 = ip };
        }
        catch (ArgumentException e)
        {
            return new PortAttachResult(false, $"port {spec.PortName}: {e.Message}");
        }
        port.Active = active;
        return await AttachAsync(port, p => ((StreamPort)p).TryConnect(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Attaches a host interface (a veth end) as an access port of <paramref name="network"/> (AF_PACKET).
    /// With <paramref name="offloads"/> frames keep their checksum/segmentation offload state.
    /// </summary>
    public ValueTask<PortAttachResult> AttachHostInterfaceAsync(string portName, string interfaceName, string network, bool offloads = true, CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        var port = new PacketSocketPort(portName, interfaceName, PortKind.Access, offloads: offloads) { Network = network };
        return AttachAsync(port, p => ((PacketSocketPort)p).Open(), cancellationToken);
    }

    /// <summary>
    /// Creates a TAP interface <paramref name="tapName"/> (in the switch's namespace) as an access port of
    /// <paramref name="network"/>: the host's side of the network on this node.
    /// </summary>
    public ValueTask<PortAttachResult> AttachTapAsync(string portName, string tapName, string network, CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        TapPort port;
        try
        {
            port = new TapPort(portName, tapName) { Network = network };
        }
        catch (ArgumentException e)
        {
            return ValueTask.FromResult(new PortAttachResult(false, $"port {portName}: {e.Message}"));
        }
        return AttachAsync(port, p => ((TapPort)p).Open(), cancellationToken);
    }

    /// <summary>Attaches a port built by the caller; <paramref name="open"/> runs on the datapath thread first.</summary>
    public async ValueTask<PortAttachResult> AttachAsync(SwitchPort port, Action<SwitchPort>? open, CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            string? error = await _loop.InvokeAsync(dp =>
            {
                if (dp.Port(port.Name) is not null) return $"port {port.Name} exists already";
                open?.Invoke(port);
                dp.AddPort(port);
                return null;
            }).ConfigureAwait(false);
            if (error is not null)
            {
                port.Dispose();
                return new PortAttachResult(false, error);
            }
        }
        catch (Exception e)
        {
            port.Dispose();
            return new PortAttachResult(false, $"port {port.Name}: {e.Message}");
        }
        finally
        {
            _gate.Release();
        }
        RefreshPortSnapshot();
        LogPortAttached(port.Name, port.Kind.ToString(), port.Network, port.Active);
        return new PortAttachResult(true, null);
    }

    public async ValueTask ActivatePortAsync(string portName, CancellationToken cancellationToken)
    {
        EnsureStarted();
        long t0 = Stopwatch.GetTimestamp();
        await _loop.InvokeAsync(dp => dp.SetPortActive(portName, true)).ConfigureAwait(false);
        LogPortActivated(portName, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
    }

    /// <summary>Removes a port; removing one that is not there is not an error (detach is idempotent).</summary>
    public async ValueTask DetachPortAsync(string portName, CancellationToken cancellationToken)
    {
        EnsureStarted();
        bool removed = await _loop.InvokeAsync(dp =>
        {
            var p = dp.RemovePort(portName);
            p?.Dispose();
            return p is not null;
        }).ConfigureAwait(false);
        RefreshPortSnapshot();
        if (removed) LogPortDetached(portName);
    }

    // ---------------------------------------------------------------- stats

    /// <summary>A snapshot of every port's counters (read without stopping the datapath).</summary>
    public SwitchStats GetStats() => SwitchStats.From(_ports, Datapath);

    private void RefreshPortSnapshot()
    {
        // Read on the datapath thread would be exact; the array reference swap is all readers need, and
        // PortArray is replaced (never mutated) by the datapath.
        _ports = Datapath.PortArray;
    }

    private void EnsureStarted()
    {
        if (!_started) throw new InvalidOperationException("the switch is not started (call StartAsync first)");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "switch {Node} started (network namespace {Namespace})")]
    private partial void LogStarted(string node, string @namespace);

    [LoggerMessage(Level = LogLevel.Information, Message = "map epoch {Epoch} applied: {Networks} networks, {Remotes} remote nodes, {Macs} remote VM MACs")]
    private partial void LogMapApplied(ulong epoch, int networks, int remotes, int macs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "map epoch {Epoch}: {Problem}")]
    private partial void LogMapProblem(ulong epoch, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "port {Port} attached ({Kind}, network {Network}, active {Active})")]
    private partial void LogPortAttached(string port, string kind, string network, bool active);

    [LoggerMessage(Level = LogLevel.Information, Message = "port {Port} activated in {Ms:F2} ms")]
    private partial void LogPortActivated(string port, double ms);

    [LoggerMessage(Level = LogLevel.Information, Message = "port {Port} detached")]
    private partial void LogPortDetached(string port);
}
