using Fabric.Switch.Flows;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;
using Fabric.Switch.Tests.Support;

namespace Fabric.Switch.Tests.Datapath;

public class FlowTableTests
{
    private static FlowKey Key(ushort inPort, ushort etherType = EtherType.Ipv4, byte proto = IpProtocol.Tcp, ushort dport = 80) =>
        new() { InPort = inPort, EthType = etherType, IpProto = proto, L4Dst = dport, IpDst = IpBits.FromIpv4(0x0A000005) };

    [Fact]
    public void Highest_priority_wins_and_equal_priorities_keep_insertion_order()
    {
        var t = new FlowTable();
        var low = new FlowRule(0, 10, FlowMatch.Any, [FlowAction.Drop(DropReason.Rule)], "low");
        var first = new FlowRule(0, 20, new FlowMatch { EthType = EtherType.Ipv4 }, [FlowAction.Normal], "first");
        var second = new FlowRule(0, 20, new FlowMatch { IpProto = IpProtocol.Tcp }, [FlowAction.Flood], "second");
        var high = new FlowRule(0, 30, new FlowMatch { L4DstMin = 22, L4DstMax = 23 }, [FlowAction.Drop(DropReason.Acl)], "high");
        t.Add(low);
        t.Add(first);
        t.Add(second);
        t.Add(high);
        var ctx = new FlowMatch.Context(-1, PortKind.Vm, default);
        Assert.Same(first, t.Lookup(0, Key(1), ctx));
        Assert.Same(high, t.Lookup(0, Key(1, dport: 23), ctx));
        Assert.Same(second, t.Lookup(0, Key(1, etherType: EtherType.Ipv6), ctx));
        Assert.Same(low, t.Lookup(0, Key(1, etherType: EtherType.Arp, proto: 1), ctx));
        Assert.Null(t.Lookup(1, Key(1), ctx));
    }

    [Fact]
    public void Prefix_and_range_matches()
    {
        Assert.True(IpPrefix.TryParse("10.0.0.0/24", out var p));
        Assert.Equal("10.0.0.0/24", p.ToString());
        Assert.True(p.Contains(IpBits.FromIpv4(0x0A0000FE)));
        Assert.False(p.Contains(IpBits.FromIpv4(0x0A000100)));
        Assert.True(IpPrefix.TryParse("0.0.0.0/0", out var all));
        Assert.True(all.Contains(IpBits.FromIpv4(0xC0A80001)));
        Assert.False(all.Contains(UInt128.One)); // ::1 is not IPv4
        Assert.True(IpPrefix.TryParse("fd00::/64", out var v6));
        IpBits.TryParse("fd00::42", out var a6);
        Assert.True(v6.Contains(a6));
        Assert.False(IpPrefix.TryParse("10.0.0.0/33", out _));
        Assert.False(IpPrefix.TryParse("nonsense", out _));
    }

    [Fact]
    public void Goto_backwards_is_refused()
    {
        var t = new FlowTable();
        Assert.Throws<ArgumentException>(() => t.Add(new FlowRule(2, 1, FlowMatch.Any, [FlowAction.GotoTable(1)])));
    }

    [Fact]
    public void Cache_serves_repeated_flows_and_a_rule_change_invalidates_it()
    {
        var net = new TestNet().Networks(TestNet.Vxlan(1, "blue", 100));
        var a = net.Vm("a", "blue", "52:54:00:00:00:01", "10.0.0.1");
        var b = net.Vm("b", "blue", "52:54:00:00:00:02", "10.0.0.2");
        var frame = TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, a.Mac, a.Ipv4, b.Ipv4, 1000, 2000, new byte[10]));
        net.Send("a", frame);
        long missesAfterFirst = net.Dp.Cache.Misses;
        for (int i = 0; i < 10; i++) net.Send("a", frame);
        Assert.Equal(missesAfterFirst, net.Dp.Cache.Misses);
        Assert.True(net.Dp.Cache.Hits >= 10);
        Assert.Equal(11, b.Received.Count);

        // A higher-priority drop rule for this flow takes effect on the very next frame.
        net.Dp.Flows.Add(new FlowRule(0, 1000, new FlowMatch { InPort = a.Number, IpProto = IpProtocol.Udp, L4DstMin = 2000, L4DstMax = 2000 },
            [FlowAction.Drop(DropReason.Rule)], "test"));
        net.Send("a", frame);
        Assert.Equal(11, b.Received.Count);
        Assert.Equal(1, a.Counters.DropsByReason[(int)DropReason.Rule]);
        Assert.Equal(missesAfterFirst + 1, net.Dp.Cache.Misses);

        net.Dp.Flows.RemoveWhere(r => r.Owner == "test");
        net.Send("a", frame);
        Assert.Equal(12, b.Received.Count);
    }

    [Fact]
    public void Explicit_rules_push_vlan_and_encap()
    {
        var net = new TestNet().Networks(TestNet.Vxlan(1, "blue", 100), TestNet.Vlan(2, "red", 30));
        var a = net.Access("a", "blue");
        var trunk = net.Trunk();
        var tunnel = net.Tunnel();
        net.Dp.Flows.Add(new FlowRule(0, 1000, new FlowMatch { InPort = a.Number, EthType = EtherType.Ipv4 },
            [FlowAction.SetNetwork(1), FlowAction.PushVlan(77), FlowAction.Output(trunk.Number), FlowAction.Encap(4242, 9), FlowAction.Output(tunnel.Number)], "test"));
        var frame = TestNet.Build(f => PacketBuilder.Udp(f, MacAddress.Broadcast, MacAddress.Parse("02:00:00:00:00:01"), 1, 2, 3, 4, new byte[4]));
        net.Send("a", frame);
        var t = Assert.Single(trunk.Received);
        Assert.Equal(FrameError.None, FrameParser.Parse(t.Frame, 0, out var k, out _));
        Assert.Equal(77, k.VlanId);
        var v = Assert.Single(tunnel.Received);
        Assert.Equal((4242u, 9u), (v.Op.Vni, v.Op.Node));
        Assert.Equal(FrameError.None, FrameParser.ParseVxlan(v.Frame, 0, out var vk, out _));
        Assert.Equal(4242u, vk.Vni);
    }
}
