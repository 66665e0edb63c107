// The SwitchAdmin API (proto/switch.proto) as plain methods; the node binds them to gRPC. Reads run on
// the datapath thread (InvokeAsync) so they see one consistent state. Expected failures are exceptions
// of the kinds the RPC layer maps to status codes: KeyNotFoundException (NOT_FOUND) for an unknown
// network or port, ArgumentException (INVALID_ARGUMENT) for a request that makes no sense,
// InvalidOperationException (FAILED_PRECONDITION) for a port that cannot be attached now (the name is
// taken, the interface does not exist).
using System.Runtime.CompilerServices;
using Fabric.Proto;
using Fabric.Switch.Bridging;
using Fabric.Switch.Capture;
using Fabric.Switch.Control;
using Fabric.Switch.Datapath;
using Fabric.Switch.Flows;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;
using Google.Protobuf;

namespace Fabric.Switch.Admin;

public sealed class SwitchAdminService
{
    private readonly VirtualSwitch _switch;

    public SwitchAdminService(VirtualSwitch sw) { _switch = sw; }

    public Task<ListNetworksReply> ListNetworks(ListNetworksRequest request, CancellationToken cancellationToken) =>
        _switch.InvokeAsync(dp =>
        {
            var reply = new ListNetworksReply { Node = _switch.Options.NodeName, MapEpoch = _switch.AppliedEpoch };
            reply.Networks.AddRange(dp.Networks.OrderBy(n => n.Name, StringComparer.Ordinal).Select(n => Summary(dp, n)));
            reply.Problems.AddRange(_switch.Problems);
            return reply;
        });

    public Task<ShowNetworkReply> ShowNetwork(ShowNetworkRequest request, CancellationToken cancellationToken) =>
        _switch.InvokeAsync(dp =>
        {
            var net = RequireNetwork(dp, request.Network);
            var reply = new ShowNetworkReply { Network = Summary(dp, net) };
            reply.Ports.AddRange(net.Ports.Select(p => dp.Port(p)).OfType<SwitchPort>().Select(PortEntry));
            reply.Acl.AddRange(net.Spec.Acl);
            reply.Arp.AddRange(net.Spec.ArpBindings.Select(b => new ArpBindingEntry { Ip = IpBits.FormatIpv4(b.Ip), Mac = b.Mac.ToString() }));
            reply.Flows.AddRange(FlowsOf(dp, net));
            return reply;
        });

    public Task<FdbReply> Fdb(FdbRequest request, CancellationToken cancellationToken) =>
        _switch.InvokeAsync(dp =>
        {
            var net = RequireNetwork(dp, request.Network);
            long now = dp.Time.GetTimestamp();
            var reply = new FdbReply { Network = net.Name, Moves = (ulong)net.Fdb.Moves };
            foreach (var (mac, e) in net.Fdb.Entries.OrderBy(e => e.Mac.Value))
            {
                reply.Entries.Add(new FdbEntryInfo
                {
                    Mac = mac.ToString(),
                    Port = e.Location.IsRemote ? "" : dp.PortName(e.Location.Port),
                    NodeId = e.Location.RemoteNode,
                    Node = e.Location.IsRemote ? dp.NodeName(e.Location.RemoteNode) : _switch.Options.NodeName,
                    Kind = e.Kind == FdbEntryKind.Static ? "static" : "learned",
                    AgeMs = (ulong)Math.Max(0, (now - e.LastSeen) * 1000 / dp.Time.TimestampFrequency),
                });
            }
            return reply;
        });

    public Task<FlowsReply> Flows(FlowsRequest request, CancellationToken cancellationToken) =>
        _switch.InvokeAsync(dp =>
        {
            var reply = new FlowsReply();
            if (string.IsNullOrEmpty(request.Network))
                reply.Flows.AddRange(dp.Flows.Rules.Select(r => r.Format(dp.PortName, dp.NetworkName)));
            else
                reply.Flows.AddRange(FlowsOf(dp, RequireNetwork(dp, request.Network)));
            return reply;
        });

    public Task<PortStatsReply> PortStats(PortStatsRequest request, CancellationToken cancellationToken) =>
        _switch.InvokeAsync(dp =>
        {
            var reply = new PortStatsReply { CacheHits = (ulong)dp.Cache.Hits, CacheMisses = (ulong)dp.Cache.Misses };
            IEnumerable<SwitchPort> ports = dp.PortArray.OrderBy(p => p.Name, StringComparer.Ordinal);
            if (!string.IsNullOrEmpty(request.Port))
                ports = [dp.Port(request.Port) ?? throw new KeyNotFoundException($"no port '{request.Port}' on this node's switch")];
            reply.Ports.AddRange(ports.Select(PortEntry));
            return reply;
        });

    /// <summary>
    /// Attaches a port (AttachPort): a VM NIC on a stream socket (the same path the hypervisor takes
    /// through ISwitchPorts), a host interface, or a TAP. The network must be one the switch has.
    /// </summary>
    public async Task<AttachPortReply> AttachPort(AttachPortRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Port)) throw new ArgumentException("a port name is required");
        await _switch.InvokeAsync(dp => RequireNetwork(dp, request.Network)).ConfigureAwait(false);
        string kind = string.IsNullOrEmpty(request.Kind) ? "stream" : request.Kind.ToLowerInvariant();
        Fabric.Core.Net.PortAttachResult result;
        switch (kind)
        {
            case "stream":
                if (string.IsNullOrWhiteSpace(request.SocketPath)) throw new ArgumentException("a stream port needs socket_path (the unix socket QEMU listens on)");
                if (string.IsNullOrWhiteSpace(request.Mac)) throw new ArgumentException("a stream port needs the NIC's MAC address");
                if (!MacAddress.TryParse(request.Mac, out _)) throw new ArgumentException($"'{request.Mac}' is not a MAC address");
                result = await _switch.AttachStreamPortAsync(new Fabric.Core.Net.VmPortSpec(request.Port, request.Network, request.Mac, request.Ip),
                    request.SocketPath, !request.Inactive, cancellationToken).ConfigureAwait(false);
                break;
            case "interface":
                if (string.IsNullOrWhiteSpace(request.Interface)) throw new ArgumentException("an interface port needs the interface name");
                result = await _switch.AttachHostInterfaceAsync(request.Port, request.Interface, request.Network, !request.NoOffloads, cancellationToken).ConfigureAwait(false);
                break;
            case "tap":
                if (string.IsNullOrWhiteSpace(request.Interface)) throw new ArgumentException("a tap port needs the name of the TAP interface to create");
                result = await _switch.AttachTapAsync(request.Port, request.Interface, request.Network, cancellationToken).ConfigureAwait(false);
                break;
            default:
                throw new ArgumentException($"port kind '{request.Kind}': use stream, interface or tap");
        }
        if (!result.Ok) throw new InvalidOperationException(result.Error);
        return await _switch.InvokeAsync(dp => new AttachPortReply
        {
            Port = PortEntry(dp.Port(request.Port) ?? throw new KeyNotFoundException($"port {request.Port} went away right after it was attached")),
        }).ConfigureAwait(false);
    }

    public async Task<DetachPortReply> DetachPort(DetachPortRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Port)) throw new ArgumentException("a port name is required");
        var kind = await _switch.InvokeAsync(dp => dp.Port(request.Port)?.Kind).ConfigureAwait(false);
        if (kind is null) return new DetachPortReply { Removed = false };
        if (kind is PortKind.Tunnel or PortKind.Trunk)
            throw new ArgumentException($"port {request.Port} is the switch's {(kind == PortKind.Tunnel ? "VXLAN endpoint" : "VLAN uplink")}: it follows the cluster map and the node's config, not DetachPort");
        await _switch.DetachPortAsync(request.Port, cancellationToken).ConfigureAwait(false);
        return new DetachPortReply { Removed = true };
    }

    public async Task<ActivatePortReply> ActivatePort(ActivatePortRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Port)) throw new ArgumentException("a port name is required");
        var exists = await _switch.InvokeAsync(dp => dp.Port(request.Port) is not null).ConfigureAwait(false);
        if (!exists) throw new KeyNotFoundException($"no port '{request.Port}' on this node's switch");
        await _switch.ActivatePortAsync(request.Port, cancellationToken).ConfigureAwait(false);
        return new ActivatePortReply();
    }

    /// <summary>Builds the packet the request describes and walks it through the tables without sending it.</summary>
    public Task<TraceReply> Trace(TraceRequest request, CancellationToken cancellationToken) =>
        _switch.InvokeAsync(dp =>
        {
            var net = RequireNetwork(dp, request.Network);
            var port = dp.Port(request.FromPort) ?? throw new KeyNotFoundException($"no port '{request.FromPort}' on this node's switch (see `fabric net show {net.Name}`)");
            var frame = BuildTraceFrame(dp, net, port, request, out uint fromNode, out var srcMac, out uint srcIp);
            var err = port.Kind == PortKind.Tunnel
                ? FrameParser.ParseVxlan(frame, port.Number, out var key, out _)
                : FrameParser.Parse(frame, port.Number, out key, out _);
            if (err != FrameError.None) throw new ArgumentException($"the traced packet does not parse: {err}");
            var lines = new List<string>
            {
                $"Flow: {FormatFlow(dp, key)}" + (fromNode != 0 ? $" (from node {dp.NodeName(fromNode)})" : ""),
                "",
                $"bridge(\"{_switch.Options.NodeName}\")",
                "-------------",
            };
            var d = dp.Compute(key, port, lines);
            var reply = new TraceReply
            {
                Flow = FormatFlow(dp, key),
                ArpReply = d.ArpReplyMac != 0,
                SrcMac = srcMac.ToString(),
                SrcIp = srcIp == 0 ? "" : IpBits.FormatIpv4(srcIp),
            };
            reply.RemoteNodes.AddRange(d.Outputs.Where(o => o.Encap == OutputEncap.Vxlan).Select(o => dp.NodeName(o.Node)).Distinct());
            reply.Lines.AddRange(lines);
            foreach (var o in d.Outputs)
                reply.Outputs.Add(o.Encap switch
                {
                    OutputEncap.Vxlan => $"{dp.PortName(o.Port)} -> {dp.NodeName(o.Node)} (vni {o.Vni})",
                    OutputEncap.Vlan => $"{dp.PortName(o.Port)} (vlan {o.Vlan})",
                    _ => dp.PortName(o.Port),
                });
            if (d.ArpReplyMac != 0) reply.Outputs.Add($"{dp.PortName(d.ArpReplyOp.Port)} (arp reply)");
            if (reply.Outputs.Count == 0) reply.DropReason = (d.AclDenied.Length > 0 ? DropReason.Acl : d.Drop).ToString().ToLowerInvariant();
            return reply;
        });

    /// <summary>
    /// Streams a live capture of a network as pcap: the file header first, then chunks of records about
    /// every 100 ms or 64 KiB, until <c>count</c> frames, <c>duration_ms</c>, or cancellation.
    /// </summary>
    public async IAsyncEnumerable<CaptureChunk> Capture(CaptureRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (netId, portNumber) = await _switch.InvokeAsync(dp =>
        {
            var net = RequireNetwork(dp, request.Network);
            ushort port = 0;
            if (!string.IsNullOrEmpty(request.Port))
                port = (dp.Port(request.Port) ?? throw new KeyNotFoundException($"no port '{request.Port}' on this node's switch")).Number;
            return (net.Id, port);
        }).ConfigureAwait(false);
        var hub = _switch.Datapath.Captures;
        var session = hub.Start(netId, portNumber, request.Count);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (request.DurationMs > 0) deadline.CancelAfter(TimeSpan.FromMilliseconds(request.DurationMs));
        var buffer = new MemoryStream();
        var header = new byte[PcapWriter.GlobalHeaderLength];
        PcapWriter.WriteGlobalHeader(header, 262144);
        buffer.Write(header);
        uint frames = 0;
        var record = new byte[PcapWriter.RecordHeaderLength];
        try
        {
            yield return Chunk(buffer, ref frames, session);
            while (true)
            {
                bool more;
                try
                {
                    using var tick = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                    tick.CancelAfter(TimeSpan.FromMilliseconds(100));
                    more = await session.Reader.WaitToReadAsync(tick.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
                {
                    more = true; // just the 100 ms tick: send what we have
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                while (session.Reader.TryRead(out var f))
                {
                    PcapWriter.WriteRecordHeader(record, f.Timestamp, f.Length, f.Length);
                    buffer.Write(record);
                    buffer.Write(f.Buffer, 0, f.Length);
                    System.Buffers.ArrayPool<byte>.Shared.Return(f.Buffer);
                    frames++;
                    if (buffer.Length >= 64 * 1024) yield return Chunk(buffer, ref frames, session);
                }
                if (buffer.Length > 0) yield return Chunk(buffer, ref frames, session);
                if (!more) break;
            }
            if (buffer.Length > 0) yield return Chunk(buffer, ref frames, session);
        }
        finally
        {
            hub.Stop(session);
            while (session.Reader.TryRead(out var f)) System.Buffers.ArrayPool<byte>.Shared.Return(f.Buffer);
        }
    }

    private static CaptureChunk Chunk(MemoryStream buffer, ref uint frames, CaptureSession session)
    {
        var chunk = new CaptureChunk { Data = ByteString.CopyFrom(buffer.GetBuffer(), 0, (int)buffer.Length), Frames = frames, Dropped = (ulong)session.Dropped };
        buffer.SetLength(0);
        frames = 0;
        return chunk;
    }

    // ---------------------------------------------------------------- helpers

    private static SwitchNetwork RequireNetwork(SwitchDatapath dp, string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a network name is required");
        return dp.Network(name) ?? throw new KeyNotFoundException(
            $"no network '{name}' on this node's switch (known: {string.Join(", ", dp.Networks.Select(n => n.Name).Order())}); define it in a [[network]] table and `fabric net apply`");
    }

    private SwitchNetworkSummary Summary(SwitchDatapath dp, SwitchNetwork n) => new()
    {
        Name = n.Name,
        Id = (uint)n.Id,
        Kind = n.Spec.Kind == NetworkKind.Vlan ? "vlan" : "vxlan",
        Vlan = n.Spec.Vlan,
        Vni = n.Spec.Vni,
        Mtu = (uint)n.Spec.Mtu,
        Subnet = n.Spec.Subnet,
        Uplink = n.Spec.Kind == NetworkKind.Vlan ? n.Spec.Uplink : "",
        LocalPorts = (uint)n.Ports.Count(p => dp.Port(p)?.Kind is PortKind.Vm or PortKind.Access),
        FdbEntries = (uint)n.Fdb.Count,
        FloodNodes = { n.Spec.FloodNodes.Select(dp.NodeName) },
        AclRules = (uint)n.Spec.Acl.Count,
        ArpBindings = (uint)n.Spec.ArpBindings.Count,
    };

    private static PortStatsEntry PortEntry(SwitchPort p)
    {
        var c = p.Counters;
        var e = new PortStatsEntry
        {
            Name = p.Name,
            Kind = p.Kind.ToString().ToLowerInvariant(),
            Network = p.Network,
            Active = p.Active,
            RxPackets = (ulong)c.RxPackets,
            RxBytes = (ulong)c.RxBytes,
            TxPackets = (ulong)c.TxPackets,
            TxBytes = (ulong)c.TxBytes,
            DropPackets = (ulong)c.DropPackets,
            Description = p.Describe(),
        };
        for (int i = 1; i < c.DropsByReason.Length; i++)
            if (c.DropsByReason[i] != 0) e.Drops.Add(new DropCount { Reason = ((DropReason)i).ToString().ToLowerInvariant(), Packets = (ulong)c.DropsByReason[i] });
        for (int i = 1; i < c.MalformedByError.Length; i++)
            if (c.MalformedByError[i] != 0) e.Drops.Add(new DropCount { Reason = "malformed:" + ((FrameError)i).ToString().ToLowerInvariant(), Packets = (ulong)c.MalformedByError[i] });
        return e;
    }

    private static IEnumerable<string> FlowsOf(SwitchDatapath dp, SwitchNetwork net)
    {
        var ports = net.Ports.ToHashSet();
        return dp.Flows.Rules
            .Where(r => r.Match.Network == net.Id
                || r.Actions.Any(a => a.Kind == FlowActionKind.SetNetwork && a.Arg == net.Id)
                || (r.Match.InPort is int p && ports.Contains((ushort)p) && dp.Port((ushort)p)?.Kind is PortKind.Vm or PortKind.Access))
            .Select(r => r.Format(dp.PortName, dp.NetworkName));
    }

    private static string FormatFlow(SwitchDatapath dp, in FlowKey key) =>
        key.ToString().Replace($"in_port={key.InPort}", $"in_port={dp.PortName(key.InPort)}");

    private static byte[] BuildTraceFrame(SwitchDatapath dp, SwitchNetwork net, SwitchPort port, TraceRequest r, out uint fromNode, out MacAddress src, out uint srcIp)
    {
        fromNode = 0;
        if (!MacAddress.TryParse(r.DstMac, out var dst)) throw new ArgumentException($"--dst-mac '{r.DstMac}' is not a MAC address");
        src = port.Kind == PortKind.Vm ? port.Mac : MacAddress.Parse("02:00:00:00:00:01");
        if (!string.IsNullOrEmpty(r.SrcMac) && !MacAddress.TryParse(r.SrcMac, out src)) throw new ArgumentException($"--src-mac '{r.SrcMac}' is not a MAC address");
        srcIp = port.Ipv4;
        if (!string.IsNullOrEmpty(r.SrcIp) && !IpBits.TryParseIpv4(r.SrcIp, out srcIp)) throw new ArgumentException($"--src-ip '{r.SrcIp}' is not an IPv4 address");
        uint dstIp = 0;
        bool hasIp = !string.IsNullOrEmpty(r.DstIp);
        if (hasIp && !IpBits.TryParseIpv4(r.DstIp, out dstIp)) throw new ArgumentException($"--dst-ip '{r.DstIp}' is not an IPv4 address");
        ushort? vlan = port.Kind == PortKind.Trunk ? net.Spec.Vlan : null;
        var b = new byte[256];
        string proto = string.IsNullOrEmpty(r.Protocol) ? "icmp" : r.Protocol.ToLowerInvariant();
        int n;
        if (!hasIp)
        {
            // A bare frame of the IEEE local experimental type: it exercises L2 forwarding only.
            n = PacketBuilder.Ethernet(b, dst, src, 0x88B5, vlan) + 46;
        }
        else
        {
            n = proto switch
            {
                "icmp" => PacketBuilder.IcmpEcho(b, dst, src, srcIp, dstIp, 1, 1, new byte[32], vlan: vlan),
                "tcp" => PacketBuilder.Tcp(b, dst, src, srcIp, dstIp, (ushort)(r.SrcPort == 0 ? 40000 : r.SrcPort), (ushort)r.DstPort, 1, 0, TcpSegment.Syn, default, vlan),
                "udp" => PacketBuilder.Udp(b, dst, src, srcIp, dstIp, (ushort)(r.SrcPort == 0 ? 40000 : r.SrcPort), (ushort)r.DstPort, new byte[16], vlan),
                "arp" => PacketBuilder.Arp(b, ArpPacket.OpRequest, dst, src, srcIp, MacAddress.Zero, dstIp, vlan),
                _ => throw new ArgumentException($"--protocol '{r.Protocol}': use icmp, tcp, udp or arp"),
            };
        }
        if (port.Kind != PortKind.Tunnel) return b[..n];
        if (net.Spec.Kind != NetworkKind.Vxlan) throw new ArgumentException($"network {net.Name} is not a VXLAN network: nothing of it arrives through {port.Name}");
        fromNode = string.IsNullOrEmpty(r.FromNode) ? 0 : dp.NodeId(r.FromNode);
        if (!string.IsNullOrEmpty(r.FromNode) && fromNode == 0) throw new KeyNotFoundException($"no node '{r.FromNode}' in the map");
        var v = new byte[n + VxlanHeader.Length];
        VxlanHeader.Write(v, net.Spec.Vni);
        b.AsSpan(0, n).CopyTo(v.AsSpan(VxlanHeader.Length));
        return v;
    }
}
