using Fabric.Switch.Bridging;
using Fabric.Switch.Flows;
using Fabric.Switch.Packets;
using Fabric.Switch.Tests.Support;

namespace Fabric.Switch.Tests.Datapath;

public class BridgeTests
{
    private static readonly MacAddress H1 = MacAddress.Parse("02:00:00:00:01:01");
    private static readonly MacAddress H2 = MacAddress.Parse("02:00:00:00:01:02");

    private static byte[] Udp(MacAddress dst, MacAddress src) =>
        TestNet.Build(f => PacketBuilder.Udp(f, dst, src, 0x0A000001, 0x0A000002, 1, 2, new byte[8]));

    [Fact]
    public void Unknown_destination_floods_then_learned_destination_is_unicast()
    {
        var net = new TestNet().Networks(TestNet.Vlan(1, "red", 10));
        var a = net.Access("a", "red");
        var b = net.Access("b", "red");
        var c = net.Access("c", "red");
        net.Send("a", Udp(H2, H1));
        Assert.Single(b.Received);
        Assert.Single(c.Received);
        Assert.Empty(a.Received);
        net.ClearReceived();
        net.Send("b", Udp(H1, H2)); // H1 was learned on a
        Assert.Single(a.Received);
        Assert.Empty(c.Received);
        net.ClearReceived();
        net.Send("a", Udp(H2, H1)); // H2 was learned on b
        Assert.Single(b.Received);
        Assert.Empty(c.Received);
    }

    [Fact]
    public void Learned_entries_age_out_on_simulated_time_and_static_ones_do_not()
    {
        var net = new TestNet().Networks(TestNet.Vlan(1, "red", 10));
        var a = net.Access("a", "red");
        net.Access("b", "red");
        var vm = net.Vm("vm", "red", "52:54:00:00:00:09");
        net.Dp.MacAgingTime = TimeSpan.FromSeconds(300);
        net.Send("a", Udp(MacAddress.Broadcast, H1));
        var fdb = net.Dp.Network("red")!.Fdb;
        Assert.True(fdb.TryLookup(H1, out var e) && e.Location.Port == a.Number && e.Kind == FdbEntryKind.Dynamic);
        net.Time.Advance(TimeSpan.FromSeconds(299));
        net.Dp.AgeMacTables();
        Assert.True(fdb.TryLookup(H1, out _));
        net.Send("a", Udp(MacAddress.Broadcast, H1)); // refreshes
        net.Time.Advance(TimeSpan.FromSeconds(299));
        net.Dp.AgeMacTables();
        Assert.True(fdb.TryLookup(H1, out _));
        net.Time.Advance(TimeSpan.FromSeconds(2));
        net.Dp.AgeMacTables();
        Assert.False(fdb.TryLookup(H1, out _));
        Assert.True(fdb.TryLookup(vm.Mac, out var s) && s.Kind == FdbEntryKind.Static);
        net.Time.Advance(TimeSpan.FromDays(1));
        net.Dp.AgeMacTables();
        Assert.True(fdb.TryLookup(vm.Mac, out _));
    }

    [Fact]
    public void Aging_forgets_and_traffic_floods_again()
    {
        var net = new TestNet().Networks(TestNet.Vlan(1, "red", 10));
        net.Access("a", "red");
        var b = net.Access("b", "red");
        var c = net.Access("c", "red");
        net.Send("b", Udp(MacAddress.Broadcast, H2));
        net.ClearReceived();
        net.Send("a", Udp(H2, H1));
        Assert.Single(b.Received);
        Assert.Empty(c.Received);
        net.Time.Advance(TimeSpan.FromSeconds(301));
        net.Dp.AgeMacTables();
        net.ClearReceived();
        net.Send("a", Udp(H2, H1));
        Assert.Single(b.Received);
        Assert.Single(c.Received); // flooded: the cached unicast decision was invalidated by aging
    }

    [Fact]
    public void Learning_is_bounded()
    {
        var gen = new FdbGeneration();
        var t = new MacTable(gen, capacity: 4);
        for (ulong i = 1; i <= 10; i++) t.Learn(new MacAddress(0x0200_0000_0000 + i), new FdbLocation(1, 0), 0);
        Assert.Equal(4, t.Count);
        Assert.Equal(6, t.LearnRefusedFull);
        Assert.Equal(LearnResult.Refreshed, t.Learn(MacAddress.Broadcast, new FdbLocation(1, 0), 0));
    }

    [Fact]
    public void A_mac_announced_from_another_node_moves_at_once()
    {
        var net = new TestNet().Networks(TestNet.Vxlan(1, "blue", 5001, 2, 3));
        var tunnel = net.Tunnel();
        var vm = net.Vm("vm1", "blue", "52:54:00:00:00:01", "10.0.0.1");
        var moving = MacAddress.Parse("52:54:00:00:00:07");
        // The map places the moving VM on node 2.
        net.Dp.SetRemoteMacs(new Dictionary<(int, ulong), uint> { [(1, moving.Value)] = 2 });
        var toMoving = TestNet.Build(f => PacketBuilder.Udp(f, moving, vm.Mac, vm.Ipv4, 0x0A000007, 1, 2, new byte[4]));
        net.Send("vm1", toMoving);
        Assert.Equal(2u, Assert.Single(tunnel.Received).Op.Node);
        // It migrates to node 3: QEMU's RARP announce arrives from node 3.
        net.SendFromNode(3, 5001, TestNet.Build(f => PacketBuilder.RarpAnnounce(f, moving)));
        Assert.Single(vm.Received); // the announce is a broadcast: the local VM sees it
        tunnel.Received.Clear();
        net.Send("vm1", toMoving);
        Assert.Equal(3u, Assert.Single(tunnel.Received).Op.Node);
        Assert.Equal(1, net.Dp.Network("blue")!.Fdb.Moves);
        // A stale map that still says node 2 does not move it back (nothing changed in the map).
        net.Dp.SetRemoteMacs(new Dictionary<(int, ulong), uint> { [(1, moving.Value)] = 2 });
        tunnel.Received.Clear();
        net.Send("vm1", toMoving);
        Assert.Equal(3u, Assert.Single(tunnel.Received).Op.Node);
        // The map catching up (node 3) makes it static there.
        net.Dp.SetRemoteMacs(new Dictionary<(int, ulong), uint> { [(1, moving.Value)] = 3 });
        Assert.True(net.Dp.Network("blue")!.Fdb.TryLookup(moving, out var e) && e.Kind == FdbEntryKind.Static && e.Location.RemoteNode == 3);
    }

    [Fact]
    public void A_local_vm_that_moved_away_is_followed_by_its_gratuitous_arp()
    {
        var net = new TestNet().Networks(TestNet.Vxlan(1, "blue", 5001, 2));
        var tunnel = net.Tunnel();
        var vm1 = net.Vm("vm1", "blue", "52:54:00:00:00:01", "10.0.0.1");
        var vm2 = net.Vm("vm2", "blue", "52:54:00:00:00:02", "10.0.0.2");
        var toVm2 = TestNet.Build(f => PacketBuilder.Udp(f, vm2.Mac, vm1.Mac, vm1.Ipv4, vm2.Ipv4, 1, 2, new byte[4]));
        net.Send("vm1", toVm2);
        Assert.Single(vm2.Received);
        // vm2 now runs on node 2 and sends a gratuitous ARP there.
        net.SendFromNode(2, 5001, TestNet.Build(f => PacketBuilder.GratuitousArp(f, vm2.Mac, vm2.Ipv4)));
        net.ClearReceived();
        net.Send("vm1", toVm2);
        Assert.Empty(vm2.Received);
        Assert.Equal(2u, Assert.Single(tunnel.Received).Op.Node);
    }

    [Fact]
    public void Broadcast_is_replicated_only_to_nodes_of_the_network_and_never_back_into_the_tunnel()
    {
        var net = new TestNet().Networks(TestNet.Vxlan(1, "blue", 5001, 2, 3), TestNet.Vxlan(2, "green", 5002, 4));
        var tunnel = net.Tunnel();
        var vm = net.Vm("vm1", "blue", "52:54:00:00:00:01", "10.0.0.1");
        net.Send("vm1", TestNet.Build(f => PacketBuilder.ArpRequest(f, vm.Mac, vm.Ipv4, 0x0A000063)));
        Assert.Equal(new uint[] { 2, 3 }, tunnel.Received.Select(r => r.Op.Node).Order());
        Assert.All(tunnel.Received, r => Assert.Equal(5001u, r.Op.Vni));
        tunnel.Received.Clear();
        net.SendFromNode(2, 5001, TestNet.Build(f => PacketBuilder.ArpRequest(f, MacAddress.Parse("52:54:00:00:00:22"), 0x0A000016, 0x0A000063)));
        Assert.Empty(tunnel.Received);
        Assert.Single(vm.Received);
    }

    [Fact]
    public void Arp_for_known_ips_is_answered_locally()
    {
        var spec = TestNet.Vxlan(1, "blue", 5001, 2) with
        {
            ArpBindings = [new(IpBits.ParseIpv4("10.0.0.2"), MacAddress.Parse("52:54:00:00:00:02"))],
        };
        var net = new TestNet().Networks(spec);
        var tunnel = net.Tunnel();
        var vm = net.Vm("vm1", "blue", "52:54:00:00:00:01", "10.0.0.1");
        net.Send("vm1", TestNet.Build(f => PacketBuilder.ArpRequest(f, vm.Mac, vm.Ipv4, IpBits.ParseIpv4("10.0.0.2"))));
        Assert.Empty(tunnel.Received); // not flooded
        var reply = Assert.Single(vm.Received).Frame;
        Assert.Equal(FrameError.None, FrameParser.Parse(reply, 0, out var k, out var layout));
        Assert.Equal((EtherType.Arp, (byte)ArpPacket.OpReply), (k.EthType, k.IpProto));
        Assert.Equal(vm.Mac, k.Destination);
        Assert.Equal(FrameError.None, ArpPacket.TryParse(reply.AsSpan(layout.L3Offset), out var arp));
        Assert.Equal(MacAddress.Parse("52:54:00:00:00:02"), arp.SenderMac);
        Assert.Equal(IpBits.ParseIpv4("10.0.0.2"), arp.SenderIp);
        Assert.Equal(vm.Mac, arp.TargetMac);
        Assert.Equal(vm.Ipv4, arp.TargetIp);
        // An unknown IP is flooded as usual.
        vm.Received.Clear();
        net.Send("vm1", TestNet.Build(f => PacketBuilder.ArpRequest(f, vm.Mac, vm.Ipv4, IpBits.ParseIpv4("10.0.0.99"))));
        Assert.Single(tunnel.Received);
    }

    [Fact]
    public void Vlan_trunk_pops_and_pushes_tags()
    {
        var net = new TestNet().Networks(TestNet.Vlan(1, "red", 10), TestNet.Vlan(2, "green", 20));
        var trunk = net.Trunk();
        var red = net.Access("r", "red");
        var green = net.Access("g", "green");
        net.Send("trunk0", TestNet.Build(f => PacketBuilder.Udp(f, MacAddress.Broadcast, H1, 1, 2, 3, 4, new byte[4], vlan: 10)));
        var got = Assert.Single(red.Received).Frame;
        Assert.Equal(FrameError.None, FrameParser.Parse(got, 0, out var k, out _));
        Assert.False(k.HasVlan);
        Assert.Empty(green.Received);
        net.Send("g", TestNet.Build(f => PacketBuilder.Udp(f, MacAddress.Broadcast, H2, 1, 2, 3, 4, new byte[4])));
        var tagged = Assert.Single(trunk.Received).Frame;
        Assert.Equal(FrameError.None, FrameParser.Parse(tagged, 0, out k, out _));
        Assert.Equal(20, k.VlanId);
        net.Send("trunk0", TestNet.Build(f => PacketBuilder.Udp(f, MacAddress.Broadcast, H1, 1, 2, 3, 4, new byte[4], vlan: 99)));
        Assert.Equal(1, trunk.Counters.DropsByReason[(int)DropReason.UnknownVlan]);
    }

    [Fact]
    public void Inactive_port_neither_forwards_nor_receives_until_activated()
    {
        var net = new TestNet().Networks(TestNet.Vlan(1, "red", 10));
        var a = net.Access("a", "red");
        var vm = net.Vm("vm", "red", "52:54:00:00:00:09", active: false);
        Assert.False(net.Dp.Network("red")!.Fdb.TryLookup(vm.Mac, out _));
        net.Send("vm", TestNet.Build(f => PacketBuilder.RarpAnnounce(f, vm.Mac)));
        Assert.Empty(a.Received);
        Assert.Equal(1, vm.Counters.DropsByReason[(int)DropReason.PortInactive]);
        net.Send("a", Udp(MacAddress.Broadcast, H1));
        Assert.Empty(vm.Received);
        net.Dp.SetPortActive("vm", true);
        Assert.True(net.Dp.Network("red")!.Fdb.TryLookup(vm.Mac, out var e) && e.Location.Port == vm.Number);
        net.Send("a", Udp(MacAddress.Broadcast, H1));
        Assert.Single(vm.Received);
    }
}
