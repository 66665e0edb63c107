// The forwarding pipeline of one switch and the state it forwards with: ports, networks, MAC tables,
// flow tables and the exact-match cache.
//
// Threading: single-threaded. In a running switch every call happens on the datapath loop's thread
// (control-plane changes arrive through the loop's command queue); tests drive it directly.
//
// Per frame (Process):
//   parse -> FlowKey ──cache hit──────────────────────────────┐
//                    └─miss─> walk tables 0..3 -> decision ─> cache
//   learn source MAC -> ingress rewrite (pop VLAN / decap) -> ARP answer | outputs -> port tx queues
// Allocation-free on a cache hit; a miss allocates one decision.
using System.Runtime.CompilerServices;
using Fabric.Switch.Bridging;
using Fabric.Switch.Capture;
using Fabric.Switch.Flows;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;

namespace Fabric.Switch.Datapath;

public sealed class SwitchDatapath
{
    public const int MaxPorts = 4096;
    private readonly TimeProvider _time;
    private readonly SwitchPort?[] _ports = new SwitchPort?[MaxPorts];
    private readonly Dictionary<string, SwitchPort> _portsByName = new(StringComparer.Ordinal);
    private readonly Dictionary<int, SwitchNetwork> _networks = new();
    private readonly Dictionary<string, SwitchNetwork> _networksByName = new(StringComparer.Ordinal);
    private readonly FdbGeneration _generation = new();
    private readonly byte[] _scratch = new byte[128];
    private readonly byte[] _offloadScratch = new byte[EthernetFrame.MaxLength + 64];
    private readonly List<SwitchPort> _dirty = new();
    private Dictionary<(int Network, ulong Mac), uint> _remoteMacs = new();
    private readonly Dictionary<uint, string> _nodeNames = new();
    private ushort _nextPort = 1;
    private SwitchPort? _tunnel;

    public SwitchDatapath(TimeProvider time, string defaultUplink = "")
    {
        _time = time;
        DefaultUplink = defaultUplink;
    }

    public FlowTable Flows { get; } = new();
    public FlowCache Cache { get; } = new();
    public FdbGeneration FdbGeneration => _generation;
    public TimeProvider Time => _time;
    /// <summary>Interface name of the trunk that carries VLAN networks whose spec names no uplink.</summary>
    public string DefaultUplink { get; }
    public TimeSpan MacAgingTime { get; set; } = TimeSpan.FromSeconds(300);
    public IEnumerable<SwitchPort> Ports => _portsByName.Values;
    /// <summary>The ports as an array, rebuilt on every add/remove, for allocation-free iteration by the loop.</summary>
    public SwitchPort[] PortArray { get; private set; } = [];
    public long PortsVersion { get; private set; }
    public IEnumerable<SwitchNetwork> Networks => _networks.Values;
    public CaptureHub Captures { get; } = new();
    /// <summary>Frames processed, for the benchmark and the loop's statistics.</summary>
    public long FramesProcessed;

    public SwitchPort? Port(ushort number) => number < MaxPorts ? _ports[number] : null;
    public SwitchPort? Port(string name) => _portsByName.GetValueOrDefault(name);
    public SwitchNetwork? Network(string name) => _networksByName.GetValueOrDefault(name);
    public SwitchNetwork? Network(int id) => _networks.GetValueOrDefault(id);
    public string NodeName(uint node) => _nodeNames.TryGetValue(node, out var n) ? n : $"node{node}";
    public uint NodeId(string name) => _nodeNames.FirstOrDefault(kv => kv.Value == name).Key;

    // ---------------------------------------------------------------- configuration (control plane)

    public void AddPort(SwitchPort port)
    {
        if (_portsByName.ContainsKey(port.Name)) throw new InvalidOperationException($"port '{port.Name}' exists");
        if (port.Kind == PortKind.Tunnel && _tunnel is not null) throw new InvalidOperationException("the switch has a tunnel port already");
        ushort n = _nextPort;
        while (_ports[n] is not null) n = (ushort)(n % (MaxPorts - 1) + 1);
        _nextPort = (ushort)(n % (MaxPorts - 1) + 1);
        port.Number = n;
        _ports[n] = port;
        _portsByName[port.Name] = port;
        if (port.Kind == PortKind.Tunnel) _tunnel = port;
        PortArray = _portsByName.Values.ToArray();
        PortsVersion++;
        if (port.Active) ClaimMac(port);
        Recompile();
    }

    public SwitchPort? RemovePort(string name)
    {
        if (!_portsByName.Remove(name, out var port)) return null;
        _ports[port.Number] = null;
        if (ReferenceEquals(_tunnel, port)) _tunnel = null;
        _dirty.Remove(port);
        PortArray = _portsByName.Values.ToArray();
        PortsVersion++;
        foreach (var net in _networks.Values)
        {
            net.Fdb.RemoveWhere((loc, _) => loc.Port == port.Number);
            // A VM MAC the map places on another node falls back to that placement.
            if (port.Kind == PortKind.Vm && _remoteMacs.TryGetValue((net.Id, port.Mac.Value), out var node) && _tunnel is not null)
                net.Fdb.SetStatic(port.Mac, new FdbLocation(_tunnel.Number, node), _time.GetTimestamp());
        }
        Recompile();
        return port;
    }

    /// <summary>Activates a port: it forwards from now on and its MAC points here (a VM that just arrived).</summary>
    public void SetPortActive(string name, bool active)
    {
        var port = _portsByName.GetValueOrDefault(name) ?? throw new KeyNotFoundException($"no port '{name}'");
        port.Active = active;
        if (active) ClaimMac(port);
        Recompile();
    }

    private void ClaimMac(SwitchPort port)
    {
        if (port.Kind != PortKind.Vm || port.Mac.IsZero) return;
        if (_networksByName.TryGetValue(port.Network, out var net))
            net.Fdb.SetStatic(port.Mac, new FdbLocation(port.Number, 0), _time.GetTimestamp());
    }

    /// <summary>
    /// Makes the networks exactly <paramref name="specs"/>: creates new ones, updates changed ones (their
    /// MAC tables survive), removes the rest (with their learned state).
    /// </summary>
    public void SetNetworks(IEnumerable<NetworkSpec> specs)
    {
        var wanted = specs.ToDictionary(s => s.Id);
        foreach (var id in _networks.Keys.Where(id => !wanted.ContainsKey(id)).ToList())
        {
            _networksByName.Remove(_networks[id].Name);
            _networks.Remove(id);
            _generation.Bump();
        }
        foreach (var spec in wanted.Values)
        {
            if (_networks.TryGetValue(spec.Id, out var net))
            {
                if (net.Name != spec.Name)
                {
                    _networksByName.Remove(net.Name);
                    _networksByName[spec.Name] = net;
                }
                net.Spec = spec;
            }
            else
            {
                net = new SwitchNetwork(spec, _generation);
                _networks[spec.Id] = net;
                _networksByName[spec.Name] = net;
                foreach (var p in _portsByName.Values.Where(p => p.Active && p.Network == spec.Name)) ClaimMac(p);
            }
        }
        ApplyRemoteMacs(_remoteMacs, force: true);
        Recompile();
    }

    public void SetNodeNames(IEnumerable<(uint Id, string Name)> nodes)
    {
        _nodeNames.Clear();
        foreach (var (id, name) in nodes) _nodeNames[id] = name;
    }

    /// <summary>
    /// VM MACs the map places on other nodes. Only entries whose placement changed since the previous
    /// call are written, so a newer event (a port activated here, a move seen in traffic) is not undone
    /// by a map that has not caught up yet.
    /// </summary>
    public void SetRemoteMacs(IReadOnlyDictionary<(int Network, ulong Mac), uint> remote)
    {
        var next = new Dictionary<(int, ulong), uint>(remote);
        ApplyRemoteMacs(next, force: false);
        _remoteMacs = next;
    }

    private void ApplyRemoteMacs(Dictionary<(int Network, ulong Mac), uint> next, bool force)
    {
        long now = _time.GetTimestamp();
        if (_tunnel is null) return;
        foreach (var ((netId, mac), node) in next)
        {
            if (!_networks.TryGetValue(netId, out var net) || net.Spec.Kind != NetworkKind.Vxlan) continue;
            bool changed = !_remoteMacs.TryGetValue((netId, mac), out var old) || old != node;
            if (changed || (force && !net.Fdb.TryLookup(new MacAddress(mac), out _)))
                net.Fdb.SetStatic(new MacAddress(mac), new FdbLocation(_tunnel.Number, node), now);
        }
        if (force) return;
        foreach (var ((netId, mac), node) in _remoteMacs)
        {
            if (next.ContainsKey((netId, mac)) || !_networks.TryGetValue(netId, out var net)) continue;
            if (net.Fdb.TryLookup(new MacAddress(mac), out var e) && e.Kind == FdbEntryKind.Static && e.Location.RemoteNode == node)
                net.Fdb.Remove(new MacAddress(mac));
        }
    }

    /// <summary>True when the trunk <paramref name="port"/> carries the VLAN network <paramref name="net"/>.</summary>
    public bool TrunkCarries(SwitchPort port, SwitchNetwork net)
    {
        if (port.Kind != PortKind.Trunk || net.Spec.Kind != NetworkKind.Vlan) return false;
        string uplink = net.Spec.Uplink.Length > 0 ? net.Spec.Uplink : DefaultUplink;
        return uplink.Length > 0 && (port.Network == uplink || port.Name == uplink);
    }

    /// <summary>Rebuilds the flow rules and each network's local port list from the configuration.</summary>
    public void Recompile()
    {
        foreach (var net in _networks.Values)
        {
            net.Ports.Clear();
            foreach (var p in _portsByName.Values.OrderBy(p => p.Number))
                if (((p.Kind is PortKind.Vm or PortKind.Access) && p.Network == net.Name) || TrunkCarries(p, net))
                    net.Ports.Add(p.Number);
        }
        Flows.ReplaceAll(FlowCompiler.Compile(_networks.Values, _portsByName.Values, TrunkCarries));
    }

    /// <summary>Ages out dynamic MAC entries; the loop calls it about once a second.</summary>
    public void AgeMacTables()
    {
        long now = _time.GetTimestamp();
        long aging = (long)(MacAgingTime.TotalSeconds * _time.TimestampFrequency);
        foreach (var net in _networks.Values) net.Fdb.Age(now, aging);
    }

    // ---------------------------------------------------------------- data plane

    /// <summary>
    /// Forwards one frame that arrived on <paramref name="inPort"/>. For the tunnel port the bytes are the
    /// UDP payload (VXLAN header + inner frame) and <paramref name="remoteNode"/> the sending node.
    /// The span may be modified in place (VLAN pop). Outputs are queued on the ports; call
    /// <see cref="FlushPorts"/> after a batch.
    /// </summary>
    public void Process(SwitchPort inPort, Span<byte> packet, uint remoteNode = 0) => Process(inPort, packet, remoteNode, OffloadInfo.None);

    /// <summary>Forwards a frame that carries offload state (from a port with a virtio-net header).</summary>
    public void Process(SwitchPort inPort, Span<byte> packet, uint remoteNode, in OffloadInfo offload)
    {
        var c = inPort.Counters;
        c.RxPackets++;
        c.RxBytes += packet.Length;
        FramesProcessed++;
        if (!inPort.Active)
        {
            c.Drop(DropReason.PortInactive, packet.Length);
            return;
        }
        var err = inPort.Kind == PortKind.Tunnel
            ? FrameParser.ParseVxlan(packet, inPort.Number, out var key, out var layout)
            : FrameParser.Parse(packet, inPort.Number, out key, out layout);
        if (err != FrameError.None)
        {
            c.Malformed(err, packet.Length);
            return;
        }
        if (inPort.Kind == PortKind.Tunnel && remoteNode == 0)
        {
            c.Drop(DropReason.UnknownVtep, packet.Length);
            return;
        }
        var d = Cache.Lookup(key, Flows.Version, _generation.Value);
        if (d is null)
        {
            d = Compute(key, inPort, null);
            Cache.Insert(key, d);
        }
        // Learn before forwarding, as a bridge does: when this frame taught the table something new (a
        // new or moved MAC), the decision is recomputed against the table that includes it.
        if (d.Learn && _networks.TryGetValue(d.Network, out var net)
            && net.Fdb.Learn(key.Source, new FdbLocation(inPort.Number, remoteNode), _time.GetTimestamp()) != LearnResult.Refreshed)
        {
            d = Compute(key, inPort, null);
            Cache.Insert(key, d);
        }
        Execute(d, inPort, packet, offload);
    }

    private void Execute(ForwardingDecision d, SwitchPort inPort, Span<byte> packet, OffloadInfo offload)
    {
        Span<byte> frame = packet;
        switch (d.Rewrite)
        {
            case IngressRewrite.PopVlan:
                // Slide the two MAC addresses over the tag: the frame now starts 4 bytes later.
                packet[..12].CopyTo(packet[VlanTag.Length..]);
                frame = packet[VlanTag.Length..];
                offload = offload.Shift(-VlanTag.Length);
                break;
            case IngressRewrite.Decap:
                frame = packet[VxlanHeader.Length..];
                break;
        }
        if (Captures.Active) Captures.Offer(d, inPort.Number, frame, _time);

        if (d.ArpReplyMac != 0)
        {
            int n = BuildArpReply(frame, new MacAddress(d.ArpReplyMac));
            if (n > 0) Send(d.ArpReplyOp, _scratch.AsSpan(0, n), OffloadInfo.None);
            return;
        }
        var outs = d.Outputs;
        for (int i = 0; i < outs.Length; i++) Send(outs[i], frame, offload);
        for (int i = 0; i < d.AclDenied.Length; i++)
            _ports[d.AclDenied[i]]?.Counters.Drop(DropReason.Acl, frame.Length);
        if (outs.Length == 0 && d.Drop != DropReason.None) inPort.Counters.Drop(d.Drop, packet.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Send(in OutputOp op, ReadOnlySpan<byte> frame, in OffloadInfo offload)
    {
        var port = _ports[op.Port];
        if (port is null || !port.Active) return;
        if (offload.IsNone || port.AcceptsOffload) SendOne(port, op, frame, offload);
        else SendInSoftware(port, op, frame, offload);
    }

    private void SendOne(SwitchPort port, in OutputOp op, ReadOnlySpan<byte> frame, in OffloadInfo offload)
    {
        if (port.Transmit(frame, op, offload))
        {
            port.Counters.TxPackets++;
            port.Counters.TxBytes += frame.Length;
        }
        else
        {
            port.Counters.Drop(DropReason.TxQueueFull, frame.Length);
        }
        if (!port.TxPending)
        {
            port.TxPending = true;
            _dirty.Add(port);
        }
    }

    private ref struct SegmentState
    {
        public SwitchDatapath Datapath;
        public SwitchPort Port;
        public OutputOp Op;
    }

    /// <summary>The port cannot take offload state: finish the checksum, or cut the GSO frame, here.</summary>
    private void SendInSoftware(SwitchPort port, in OutputOp op, ReadOnlySpan<byte> frame, in OffloadInfo offload)
    {
        if (offload.IsGso)
        {
            var state = new SegmentState { Datapath = this, Port = port, Op = op };
            int n = SoftwareOffload.Segment(frame, offload, _offloadScratch, ref state,
                static (ref SegmentState s, ReadOnlySpan<byte> segment) => s.Datapath.SendOne(s.Port, s.Op, segment, OffloadInfo.None));
            if (n < 0) port.Counters.Drop(DropReason.OffloadUnsupported, frame.Length);
            return;
        }
        if (frame.Length > _offloadScratch.Length)
        {
            port.Counters.Drop(DropReason.TooBig, frame.Length);
            return;
        }
        var copy = _offloadScratch.AsSpan(0, frame.Length);
        frame.CopyTo(copy);
        if (!SoftwareOffload.CompleteChecksum(copy, offload))
        {
            port.Counters.Drop(DropReason.OffloadUnsupported, frame.Length);
            return;
        }
        SendOne(port, op, copy, OffloadInfo.None);
    }

    /// <summary>Sends what the last frames queued on each port (one system call per port where the port can batch).</summary>
    public void FlushPorts()
    {
        for (int i = 0; i < _dirty.Count; i++)
        {
            var p = _dirty[i];
            p.TxPending = false;
            p.FlushTx();
        }
        _dirty.Clear();
    }

    /// <summary>Writes the ARP reply to <paramref name="request"/> into the scratch buffer; returns its length.</summary>
    private int BuildArpReply(ReadOnlySpan<byte> request, MacAddress answer)
    {
        var copy = _scratch.AsSpan(64, 64);
        int len = Math.Min(request.Length, 64);
        request[..len].CopyTo(copy);
        if (EthernetFrame.TryParse(copy[..len], out var eth) != FrameError.None) return 0;
        if (ArpPacket.TryParse(eth.Payload, out var req) != FrameError.None) return 0;
        return PacketBuilder.Arp(_scratch, ArpPacket.OpReply, req.SenderMac, answer, req.TargetIp, req.SenderMac, req.SenderIp);
    }

    // ---------------------------------------------------------------- slow path

    /// <summary>Walks the tables for <paramref name="key"/>. With a trace list, records every step (for `fabric net trace`).</summary>
    public ForwardingDecision Compute(in FlowKey key, SwitchPort inPort, List<string>? trace)
    {
        var d = new ForwardingDecision { FlowVersion = Flows.Version, FdbGeneration = _generation.Value };
        var outputs = new List<OutputOp>();
        var denied = new List<ushort>();
        var ctx = new FlowMatch.Context(-1, inPort.Kind, default);
        int table = 0;
        ushort? pushVlan = null;
        (uint Vni, uint Node)? encap = null;
        bool dropped = false;
        int steps = 0;
        while (table >= 0 && !dropped && steps++ < FlowTable.TableCount)
        {
            var rule = Flows.Lookup(table, key, ctx);
            if (rule is null)
            {
                trace?.Add($"{table}. no rule matched: drop");
                d.Drop = DropReason.NoMatch;
                break;
            }
            trace?.Add($"{table}. priority {rule.Priority} {rule.Match.Format(PortName, NetworkName)}{(rule.Owner.Length > 0 ? $"  [{rule.Owner}]" : "")}");
            int next = -1;
            foreach (var a in rule.Actions)
            {
                trace?.Add($"    {a.Format(PortName, NetworkName)}");
                switch (a.Kind)
                {
                    case FlowActionKind.SetNetwork:
                        d.Network = a.Arg;
                        ctx = ctx with { Network = a.Arg };
                        break;
                    case FlowActionKind.PopVlan:
                        if (key.HasVlan) d.Rewrite = IngressRewrite.PopVlan;
                        break;
                    case FlowActionKind.Decap:
                        if ((key.Flags & FlowKeyFlags.Tunnel) != 0) d.Rewrite = IngressRewrite.Decap;
                        break;
                    case FlowActionKind.PushVlan:
                        pushVlan = (ushort)a.Arg;
                        break;
                    case FlowActionKind.Encap:
                        encap = ((uint)a.Arg, (uint)a.Arg2);
                        break;
                    case FlowActionKind.Output:
                        AddOutput((ushort)a.Arg, key, inPort, d, outputs, denied, pushVlan, encap, trace);
                        break;
                    case FlowActionKind.Flood:
                        Flood(key, inPort, d, outputs, denied, trace);
                        break;
                    case FlowActionKind.Normal:
                        Normal(key, inPort, d, outputs, denied, trace);
                        break;
                    case FlowActionKind.ArpReply:
                        // Announcements (gratuitous ARP, SPA = TPA) and probes (SPA = 0) are not questions:
                        // they go where any broadcast goes.
                        if (key.IpSrc == key.IpDst || key.IpSrc == IpBits.FromIpv4(0))
                        {
                            trace?.Add("     -> announcement or probe, not answered: normal");
                            Normal(key, inPort, d, outputs, denied, trace);
                        }
                        else
                        {
                            d.ArpReplyMac = a.Arg2;
                            d.ArpReplyOp = NaturalOp(inPort, d.Network, 0) ?? default;
                            trace?.Add($"     -> answered locally: {IpBits.Format(key.IpDst)} is-at {new MacAddress(a.Arg2)}, sent back to {inPort.Name}");
                        }
                        break;
                    case FlowActionKind.Drop:
                        d.Drop = a.Reason;
                        outputs.Clear();
                        dropped = true;
                        break;
                    case FlowActionKind.GotoTable:
                        next = a.Arg;
                        break;
                }
                if (dropped) break;
            }
            if (dropped && table == FlowCompiler.TableIngress) d.Learn = false;
            else if (table == FlowCompiler.TableIngress) d.Learn = d.Network >= 0;
            table = next;
        }
        d.Outputs = outputs.ToArray();
        d.AclDenied = denied.ToArray();
        if (trace is not null) TraceSummary(d, trace);
        return d;
    }

    private void Normal(in FlowKey key, SwitchPort inPort, ForwardingDecision d, List<OutputOp> outputs, List<ushort> denied, List<string>? trace)
    {
        if (!_networks.TryGetValue(d.Network, out var net))
        {
            trace?.Add("     -> no network: drop");
            d.Drop = DropReason.NoNetwork;
            return;
        }
        var dst = key.Destination;
        if (!dst.IsMulticast && net.Fdb.TryLookup(dst, out var e))
        {
            var loc = e.Location;
            string kind = e.Kind == FdbEntryKind.Static ? "static" : "learned";
            if (loc.IsRemote)
            {
                trace?.Add($"     -> {dst} is at node {NodeName(loc.RemoteNode)} ({kind})");
                if (inPort.Kind == PortKind.Tunnel)
                {
                    // Split horizon: a frame from one node is never relayed to another.
                    trace?.Add("     -> came from the tunnel: not sent back into it (split horizon): drop");
                    d.Drop = DropReason.Hairpin;
                    return;
                }
                if (_tunnel is null || net.Spec.Kind != NetworkKind.Vxlan)
                {
                    trace?.Add("     -> no tunnel for this network: drop");
                    d.Drop = DropReason.NoNetwork;
                    return;
                }
                AddOutput(_tunnel.Number, key, inPort, d, outputs, denied, null, (net.Spec.Vni, loc.RemoteNode), trace);
                return;
            }
            trace?.Add($"     -> {dst} is on port {PortName(loc.Port)} ({kind})");
            if (loc.Port == inPort.Number)
            {
                trace?.Add("     -> that is the ingress port: drop");
                d.Drop = DropReason.Hairpin;
                return;
            }
            AddOutput(loc.Port, key, inPort, d, outputs, denied, null, null, trace);
            return;
        }
        trace?.Add(dst.IsMulticast ? $"     -> {dst} is {(dst.IsBroadcast ? "broadcast" : "multicast")}: flood" : $"     -> {dst} is unknown: flood");
        Flood(key, inPort, d, outputs, denied, trace);
    }

    private void Flood(in FlowKey key, SwitchPort inPort, ForwardingDecision d, List<OutputOp> outputs, List<ushort> denied, List<string>? trace)
    {
        if (!_networks.TryGetValue(d.Network, out var net)) return;
        foreach (var p in net.Ports)
            if (p != inPort.Number) AddOutput(p, key, inPort, d, outputs, denied, null, null, trace);
        if (net.Spec.Kind == NetworkKind.Vxlan && _tunnel is not null)
        {
            if (inPort.Kind == PortKind.Tunnel)
            {
                trace?.Add("     -> from the tunnel: not replicated to other nodes (split horizon)");
                return;
            }
            foreach (var node in net.Spec.FloodNodes)
                AddOutput(_tunnel.Number, key, inPort, d, outputs, denied, null, (net.Spec.Vni, node), trace);
        }
    }

    /// <summary>The encapsulation a port needs to carry network <paramref name="network"/>.</summary>
    private OutputOp? NaturalOp(SwitchPort port, int network, uint node)
    {
        switch (port.Kind)
        {
            case PortKind.Trunk:
                return _networks.TryGetValue(network, out var n) && n.Spec.Kind == NetworkKind.Vlan
                    ? new OutputOp(port.Number, OutputEncap.Vlan, Vlan: n.Spec.Vlan)
                    : null;
            case PortKind.Tunnel:
                return _networks.TryGetValue(network, out var v) && v.Spec.Kind == NetworkKind.Vxlan && node != 0
                    ? new OutputOp(port.Number, OutputEncap.Vxlan, Vni: v.Spec.Vni, Node: node)
                    : null;
            default:
                return new OutputOp(port.Number, OutputEncap.None);
        }
    }

    private void AddOutput(ushort portNumber, in FlowKey key, SwitchPort inPort, ForwardingDecision d, List<OutputOp> outputs,
        List<ushort> denied, ushort? pushVlan, (uint Vni, uint Node)? encap, List<string>? trace)
    {
        var port = Port(portNumber);
        if (port is null)
        {
            trace?.Add($"     -> output to port {portNumber}: no such port");
            return;
        }
        if (!port.Active)
        {
            trace?.Add($"     -> {port.Name} is inactive: skipped");
            return;
        }
        if (port.Number == inPort.Number && port.Kind != PortKind.Tunnel)
        {
            trace?.Add($"     -> {port.Name} is the ingress port: skipped");
            return;
        }
        OutputOp? op = port.Kind switch
        {
            PortKind.Tunnel when encap is { } e => new OutputOp(port.Number, OutputEncap.Vxlan, Vni: e.Vni, Node: e.Node),
            PortKind.Trunk when pushVlan is ushort v => new OutputOp(port.Number, OutputEncap.Vlan, Vlan: v),
            _ => NaturalOp(port, d.Network, 0),
        };
        if (op is null)
        {
            trace?.Add($"     -> {port.Name} cannot carry this network: skipped");
            return;
        }
        if (port.Kind == PortKind.Vm)
        {
            var rule = Flows.Lookup(FlowCompiler.TableAclToVm, key, new FlowMatch.Context(d.Network, inPort.Kind, PortKind.Vm));
            if (rule is not null && rule.Actions.Any(a => a.Kind == FlowActionKind.Drop))
            {
                trace?.Add($"     -> {port.Name}: {FlowCompiler.TableAclToVm}. priority {rule.Priority} {rule.Match.Format(PortName, NetworkName)}  [{rule.Owner}] drop(acl)");
                // Counted once, on the VM port the rule protects (not again on the ingress port).
                denied.Add(port.Number);
                return;
            }
        }
        var o = op.Value;
        if (outputs.Contains(o)) return;
        outputs.Add(o);
        trace?.Add(o.Encap switch
        {
            OutputEncap.Vxlan => $"     -> output {port.Name}: encap vxlan vni {o.Vni} to node {NodeName(o.Node)}",
            OutputEncap.Vlan => $"     -> output {port.Name}: push_vlan {o.Vlan}",
            _ => $"     -> output {port.Name}",
        });
    }

    private void TraceSummary(ForwardingDecision d, List<string> trace)
    {
        trace.Add("");
        if (d.Rewrite != IngressRewrite.None) trace.Add($"Ingress: {(d.Rewrite == IngressRewrite.PopVlan ? "pop_vlan" : "decap(vxlan)")}");
        if (d.ArpReplyMac != 0)
            trace.Add($"Datapath actions: arp_reply({new MacAddress(d.ArpReplyMac)}) -> {PortName(d.ArpReplyOp.Port)}");
        else if (d.Outputs.Length == 0)
            trace.Add($"Datapath actions: drop{(d.Drop != DropReason.None ? $" ({d.Drop.ToString().ToLowerInvariant()})" : "")}");
        else
            trace.Add("Datapath actions: " + string.Join(", ", d.Outputs.Select(o => o.Encap switch
            {
                OutputEncap.Vxlan => $"encap(vxlan,vni={o.Vni},node={NodeName(o.Node)}),output:{PortName(o.Port)}",
                OutputEncap.Vlan => $"push_vlan:{o.Vlan},output:{PortName(o.Port)}",
                _ => $"output:{PortName(o.Port)}",
            })));
        if (d.AclDenied.Length > 0) trace.Add("Denied by ACL: " + string.Join(", ", d.AclDenied.Select(p => PortName(p))));
    }

    public string PortName(int number) => number is > 0 and < MaxPorts && _ports[number] is { } p ? p.Name : $"#{number}";
    public string NetworkName(int id) => _networks.TryGetValue(id, out var n) ? n.Name : $"#{id}";
}
