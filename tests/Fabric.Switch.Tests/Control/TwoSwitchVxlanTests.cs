// Two VirtualSwitch instances in one process, each a "node" with its own loopback data address, VM ports
// played by FakeVm (QEMU's stream protocol), networks and VM placement from a cluster map: ARP and ICMP
// across VXLAN, isolation between networks with overlapping subnets, MAC moves, reconnects, admin calls.
using System.Diagnostics;
using Fabric.Core.Net;
using Fabric.Proto;
using Fabric.Switch.Admin;
using Fabric.Switch.Capture;
using Fabric.Switch.Control;
using Fabric.Switch.Flows;
using Fabric.Switch.Packets;
using Fabric.Switch.Tests.Support;
using Xunit.Abstractions;

namespace Fabric.Switch.Tests.Control;

public sealed class TwoSwitchVxlanTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly ITestOutputHelper _out;
    private readonly string _dir = Path.Combine("/tmp", $"fsw-{Guid.NewGuid():N}"[..12]);
    private readonly List<IAsyncDisposable> _cleanup = new();
    private VirtualSwitch _n1 = null!, _n2 = null!;
    private ClusterMap _map = null!;

    public TwoSwitchVxlanTests(ITestOutputHelper output) { _out = output; }

    private const string Mac1 = "52:54:00:0a:00:01", Mac2 = "52:54:00:0a:00:02", Mac3 = "52:54:00:0b:00:03", Mac4 = "52:54:00:0c:00:04", Mac5 = "52:54:00:0a:00:05";
    private static readonly uint Ip1 = IpBits.ParseIpv4("10.10.0.11"), Ip2 = IpBits.ParseIpv4("10.10.0.12"), Ip3 = IpBits.ParseIpv4("10.10.0.13"),
        Ip4 = IpBits.ParseIpv4("10.20.0.14"), Ip5 = IpBits.ParseIpv4("10.10.0.15");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        var addrs = TestCluster.LoopbackAddresses(2);
        ushort port = TestCluster.FreeUdpPort(addrs);
        _map = new ClusterMap { Epoch = 7, ClusterName = "test" };
        _map.Nodes.Add(TestCluster.Node(1, "n1", addrs[0]));
        _map.Nodes.Add(TestCluster.Node(2, "n2", addrs[1]));
        _map.Networks.Add(TestCluster.Vxlan(1, "overlay", 5001));
        // Same subnet, other VNI: addresses overlap with overlay, frames must not.
        _map.Networks.Add(TestCluster.Vxlan(2, "other", 5002));
        _map.Networks.Add(TestCluster.Vlan(3, "lan", 100));
        _map.Vms.Add(TestCluster.Vm(1, "vm1", 1, ("overlay", Mac1, "10.10.0.11/24")));
        _map.Vms.Add(TestCluster.Vm(2, "vm2", 2, ("overlay", Mac2, "10.10.0.12/24")));
        _map.Vms.Add(TestCluster.Vm(3, "vm3", 2, ("other", Mac3, "10.10.0.13/24")));
        _map.Vms.Add(TestCluster.Vm(4, "vm4", 1, ("lan", Mac4, "10.20.0.14/24")));
        _map.Vms.Add(TestCluster.Vm(5, "vm5", 2, ("overlay", Mac5, "10.10.0.15/24")));
        _n1 = new VirtualSwitch(new SwitchOptions { NodeName = "n1", VxlanPort = port });
        _n2 = new VirtualSwitch(new SwitchOptions { NodeName = "n2", VxlanPort = port });
        _cleanup.Add(_n1);
        _cleanup.Add(_n2);
        await _n1.StartAsync();
        await _n2.StartAsync();
        await _n1.ApplyMapAsync(_map, 1);
        await _n2.ApplyMapAsync(_map, 2);
        Assert.Empty(_n1.Problems);
        Assert.Empty(_n2.Problems);
    }

    public async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(_cleanup)) await d.DisposeAsync();
        try { Directory.Delete(_dir, true); } catch { }
    }

    private async Task<FakeVm> Vm(ISwitchPorts sw, string name, string network, string mac, uint ip, bool active = true)
    {
        var vm = new FakeVm(name, Path.Combine(_dir, name + ".sock"), MacAddress.Parse(mac), ip);
        _cleanup.Insert(0, vm); // disposed before the switches
        var r = await sw.AttachStreamPortAsync(new VmPortSpec($"{name}-0", network, mac, IpBits.FormatIpv4(ip) + "/24"), vm.SocketPath, active, default);
        Assert.True(r.Ok, r.Error);
        await vm.WaitConnectedAsync(Timeout);
        return vm;
    }

    [Fact]
    public async Task Vms_on_two_nodes_exchange_arp_and_icmp_over_vxlan_and_other_networks_see_nothing()
    {
        var vm1 = await Vm(_n1, "vm1", "overlay", Mac1, Ip1);
        var vm4 = await Vm(_n1, "vm4", "lan", Mac4, Ip4);
        var vm2 = await Vm(_n2, "vm2", "overlay", Mac2, Ip2);
        var vm3 = await Vm(_n2, "vm3", "other", Mac3, Ip3);

        // ARP for vm2 is answered by n1's switch (it knows vm2's IP from the map); the echo crosses VXLAN.
        var peer = await vm1.PingAsync(Ip2, 1, Timeout);
        Assert.Equal(MacAddress.Parse(Mac2), peer);
        for (ushort seq = 2; seq <= 5; seq++) await vm1.PingMacAsync(peer, Ip2, seq, Timeout);
        // vm2 received the echo requests from vm1 (over the tunnel).
        Assert.Contains(vm2.Received, f => FrameParser.Parse(f.ToArray(), 0, out var k, out _) == FrameError.None && k.Source == vm1.Mac && k.IpProto == IpProtocol.Icmp);

        // An ARP for an unknown IP floods to n2 (vm2 sees it); vm3 (same subnet, other VNI) and vm4 (other network) do not.
        var b = new byte[64];
        await vm1.SendAsync(b[..PacketBuilder.ArpRequest(b, vm1.Mac, Ip1, IpBits.ParseIpv4("10.10.0.99"))]);
        await vm2.WaitForAsync((k, _) => k.EthType == EtherType.Arp && k.IpDst == IpBits.FromIpv4(IpBits.ParseIpv4("10.10.0.99")), Timeout, "flooded ARP");
        // vm3 broadcasts on its network; nobody on overlay may see it.
        await vm3.SendAsync(b[..PacketBuilder.ArpRequest(b, vm3.Mac, Ip3, Ip2)]);
        await vm3.SendAsync(b[..PacketBuilder.GratuitousArp(b, vm3.Mac, Ip3)]);
        // A marker frame sent after them on overlay: once it arrives, the earlier frames would have too.
        await vm1.PingMacAsync(peer, Ip2, 99, Timeout);
        Assert.DoesNotContain(vm2.Received, f => MacAddress.Read(f.AsSpan(6)) == vm3.Mac);
        Assert.DoesNotContain(vm1.Received, f => MacAddress.Read(f.AsSpan(6)) == vm3.Mac);
        Assert.DoesNotContain(vm3.Received, f => MacAddress.Read(f.AsSpan(6)) != vm3.Mac);
        Assert.Empty(vm4.Received);

        // Counters: n1's tunnel sent and received; the VM ports' rx/tx are in the stats and the meter.
        var stats = _n1.GetStats();
        var p1 = stats.Ports.Single(p => p.Name == "vm1-0");
        Assert.True(p1.RxPackets >= 6 && p1.TxPackets >= 6);
        var tun = stats.Ports.Single(p => p.Name == VirtualSwitch.TunnelPortName);
        Assert.True(tun.TxPackets >= 5 && tun.RxPackets >= 5);
    }

    [Fact]
    public async Task Spoofed_frames_are_dropped_and_counted()
    {
        var vm1 = await Vm(_n1, "vm1", "overlay", Mac1, Ip1);
        var vm2 = await Vm(_n2, "vm2", "overlay", Mac2, Ip2);
        var b = new byte[128];
        // Source MAC of vm5, source IP of vm2: both spoofed.
        await vm1.SendAsync(b[..PacketBuilder.IcmpEcho(b, vm2.Mac, MacAddress.Parse(Mac5), Ip1, Ip2, 1, 1, default)]);
        await vm1.SendAsync(b[..PacketBuilder.IcmpEcho(b, vm2.Mac, vm1.Mac, Ip5, Ip2, 1, 2, default)]);
        await vm1.PingMacAsync(vm2.Mac, Ip2, 3, Timeout);
        var p = _n1.GetStats().Ports.Single(x => x.Name == "vm1-0");
        Assert.Equal(1, p.Drops.GetValueOrDefault(DropReason.SpoofedMac));
        Assert.Equal(1, p.Drops.GetValueOrDefault(DropReason.SpoofedIp));
        Assert.DoesNotContain(vm2.Received, f => FrameParser.Parse(f.ToArray(), 0, out var k, out _) == FrameError.None && k.L4Src == IcmpMessage.EchoRequest && IcmpSeq(f) is 1 or 2);
        var admin = new SwitchAdminService(_n1);
        var ps = await admin.PortStats(new PortStatsRequest { Port = "vm1-0" }, default);
        Assert.Contains(ps.Ports[0].Drops, d => d.Reason == "spoofedmac" && d.Packets == 1);
    }

    private static int IcmpSeq(byte[] f)
    {
        FrameParser.Parse(f.ToArray(), 0, out _, out var l);
        return l.L4Offset < 0 ? -1 : System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(l.L4Offset + 6));
    }

    [Fact]
    public async Task A_vm_that_moves_to_the_other_node_is_reachable_there_after_its_announce()
    {
        var vm5 = await Vm(_n2, "vm5", "overlay", Mac5, Ip5);
        var vm2 = await Vm(_n2, "vm2", "overlay", Mac2, Ip2);
        await vm5.PingAsync(Ip2, 1, Timeout); // local on n2
        // Migration: the destination n1 prepares an inactive port; at switch-over it is activated and the
        // guest's QEMU announces itself with RARP. The map still says n2 (it catches up later).
        var dest = await Vm(_n1, "vm2b", "overlay", Mac2, Ip2, active: false);
        var b = new byte[64];
        await dest.SendAsync(b[..PacketBuilder.RarpAnnounce(b, dest.Mac)]); // dropped: inactive
        await _n1.ActivatePortAsync("vm2b-0", default);
        // The source's QEMU stops answering.
        vm2.AnswerPing = false;
        vm2.AnswerArp = false;
        var sw = Stopwatch.StartNew();
        await dest.SendAsync(b[..PacketBuilder.RarpAnnounce(b, dest.Mac)]);
        // The announce is a broadcast: it reaches vm5 on n2 through n2's switch, which learned the move
        // from that very frame. The first ping after it must reach the VM on n1.
        await vm5.WaitForAsync((k, _) => k.EthType == EtherType.Rarp && k.Source == dest.Mac, Timeout, "the RARP announce");
        var announced = sw.Elapsed;
        await vm5.PingMacAsync(dest.Mac, Ip2, 10, Timeout);
        _out.WriteLine($"announce reached n2 after {announced.TotalMilliseconds:F2} ms; first echo reply from n1 after {sw.Elapsed.TotalMilliseconds:F2} ms");
        Assert.DoesNotContain(vm2.Received, f => FrameParser.Parse(f.ToArray(), 0, out var k, out _) == FrameError.None && k.Source == vm5.Mac && k.IpProto == IpProtocol.Icmp && IcmpSeq(f) == 10);
        var fdb = await new SwitchAdminService(_n2).Fdb(new FdbRequest { Network = "overlay" }, default);
        var e = fdb.Entries.Single(x => x.Mac == Mac2);
        Assert.Equal("n1", e.Node);
        Assert.Equal(1ul, fdb.Moves);
        Assert.Equal(1, _n1.GetStats().Ports.Single(p => p.Name == "vm2b-0").Drops.GetValueOrDefault(DropReason.PortInactive));

        // The map catches up: vm2 on n1. n2 keeps pointing at n1; the old port is detached.
        _map.Vms.Single(v => v.Spec.Name == "vm2").NodeId = 1;
        _map.Epoch++;
        await _n1.ApplyMapAsync(_map, 1);
        await _n2.ApplyMapAsync(_map, 2);
        await _n2.DetachPortAsync("vm2-0", default);
        await vm5.PingMacAsync(dest.Mac, Ip2, 100, Timeout);
        fdb = await new SwitchAdminService(_n2).Fdb(new FdbRequest { Network = "overlay" }, default);
        e = fdb.Entries.Single(x => x.Mac == Mac2);
        Assert.Equal(("n1", "static"), (e.Node, e.Kind));
    }

    [Fact]
    public async Task The_switch_reconnects_when_qemu_drops_the_connection()
    {
        var vm1 = await Vm(_n1, "vm1", "overlay", Mac1, Ip1);
        var vm2 = await Vm(_n2, "vm2", "overlay", Mac2, Ip2);
        await vm1.PingAsync(Ip2, 1, Timeout);
        vm2.DropConnection();
        var deadline = DateTime.UtcNow + Timeout;
        while (Volatile.Read(ref vm2.Connections) < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "the switch did not reconnect");
            await Task.Delay(20);
        }
        await vm1.PingMacAsync(vm2.Mac, Ip2, 2, Timeout);
    }

    [Fact]
    public async Task Admin_lists_traces_and_captures()
    {
        var vm1 = await Vm(_n1, "vm1", "overlay", Mac1, Ip1);
        var vm2 = await Vm(_n2, "vm2", "overlay", Mac2, Ip2);
        var admin = new SwitchAdminService(_n1);
        var list = await admin.ListNetworks(new ListNetworksRequest(), default);
        Assert.Equal(["lan", "other", "overlay"], list.Networks.Select(n => n.Name));
        var overlay = list.Networks.Single(n => n.Name == "overlay");
        Assert.Equal(("vxlan", 5001u), (overlay.Kind, overlay.Vni));
        Assert.Equal(["n2"], overlay.FloodNodes);
        Assert.Equal(3u, overlay.ArpBindings);

        var trace = await admin.Trace(new TraceRequest { Network = "overlay", FromPort = "vm1-0", DstMac = Mac2, DstIp = "10.10.0.12" }, default);
        _out.WriteLine(string.Join('\n', trace.Lines));
        Assert.Equal(["vxlan0 -> n2 (vni 5001)"], trace.Outputs);
        Assert.Contains(trace.Lines, l => l.Contains("is at node n2 (static)"));
        var arp = await admin.Trace(new TraceRequest { Network = "overlay", FromPort = "vm1-0", DstMac = "ff:ff:ff:ff:ff:ff", DstIp = "10.10.0.12", Protocol = "arp" }, default);
        Assert.True(arp.ArpReply);
        var spoof = await admin.Trace(new TraceRequest { Network = "overlay", FromPort = "vm1-0", DstMac = Mac2, DstIp = "10.10.0.12", SrcIp = "10.10.0.99" }, default);
        Assert.Equal("spoofedip", spoof.DropReason);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => admin.Fdb(new FdbRequest { Network = "nope" }, default));

        var show = await admin.ShowNetwork(new ShowNetworkRequest { Network = "overlay" }, default);
        Assert.Contains(show.Ports, p => p.Name == "vm1-0" && p.Description.Contains("connected"));
        Assert.Contains(show.Flows, f => f.Contains("in_port=vm1-0"));

        // Capture 4 frames (2 echo requests, 2 replies) while pinging.
        var chunks = new List<byte>();
        var capture = Task.Run(async () =>
        {
            await foreach (var c in admin.Capture(new CaptureRequest { Network = "overlay", Count = 4, DurationMs = 10_000 }, default))
                chunks.AddRange(c.Data.ToByteArray());
        });
        // Ping until the capture has its 4 frames: when the capture starts listening is not observable from here,
        // so pings before that are simply not counted (no guessing how long it takes to start).
        var deadline = DateTime.UtcNow + Timeout;
        for (ushort seq = 1; !capture.IsCompleted; seq++)
        {
            Assert.True(DateTime.UtcNow < deadline, "the capture did not see 4 frames while the VMs pinged");
            await vm1.PingMacAsync(vm2.Mac, Ip2, seq, Timeout);
        }
        await capture;
        var pcap = PcapReader.TryRead(chunks.ToArray(), out var err);
        Assert.Null(err);
        Assert.Equal(4, pcap!.Records.Count);
        Assert.All(pcap.Records, r => Assert.Equal(FrameError.None, FrameParser.Parse(r.Data, 0, out var k, out _)));
    }
}
