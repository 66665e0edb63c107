using Fabric.Switch.Flows;
using Fabric.Switch.Packets;
using Fabric.Switch.Tests.Support;

namespace Fabric.Switch.Tests.Datapath;

public class PortSecurityAclTests
{
    private static readonly uint Ip1 = IpBits.ParseIpv4("10.0.0.1"), Ip2 = IpBits.ParseIpv4("10.0.0.2");

    [Fact]
    public void Vm_may_send_only_from_its_own_mac_and_ip()
    {
        var net = new TestNet().Networks(TestNet.Vlan(1, "red", 10));
        var a = net.Vm("a", "red", "52:54:00:00:00:01", "10.0.0.1");
        var b = net.Vm("b", "red", "52:54:00:00:00:02", "10.0.0.2");
        var evil = MacAddress.Parse("52:54:00:66:66:66");

        net.Send("a", TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, a.Mac, Ip1, Ip2, 1, 2, new byte[4])));
        Assert.Single(b.Received);
        net.Send("a", TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, evil, Ip1, Ip2, 1, 2, new byte[4])));
        net.Send("a", TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, b.Mac, Ip2, Ip2, 1, 2, new byte[4])));
        Assert.Equal(2, a.Counters.DropsByReason[(int)DropReason.SpoofedMac]);
        net.Send("a", TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, a.Mac, Ip2, Ip2, 1, 2, new byte[4])));
        net.Send("a", TestNet.Build(f => PacketBuilder.ArpRequest(f, a.Mac, Ip2, Ip1))); // ARP claiming b's IP
        Assert.Equal(2, a.Counters.DropsByReason[(int)DropReason.SpoofedIp]);
        // ARP whose sender hardware address is not the frame's source.
        var arp = TestNet.Build(f => PacketBuilder.ArpRequest(f, evil, Ip1, Ip2));
        a.Mac.Write(arp.AsSpan(6));
        net.Send("a", arp);
        Assert.Equal(3, a.Counters.DropsByReason[(int)DropReason.SpoofedMac]);
        Assert.Single(b.Received);
        // The spoofed MAC was not learned: traffic to it floods rather than going to a.
        Assert.False(net.Dp.Network("red")!.Fdb.TryLookup(evil, out _));
        // Allowed: ARP probe from 0.0.0.0, DHCP discover, IPv6 and RARP from the own MAC.
        net.Send("a", TestNet.Build(f => PacketBuilder.ArpRequest(f, a.Mac, 0, Ip1)));
        net.Send("a", TestNet.Build(f => PacketBuilder.Udp(f, MacAddress.Broadcast, a.Mac, 0, 0xFFFFFFFF, 68, 67, new byte[4])));
        net.Send("a", TestNet.Build(f => PacketBuilder.Ipv6Udp(f, b.Mac, a.Mac, 1, 2, 1, 2, new byte[4])));
        net.Send("a", TestNet.Build(f => PacketBuilder.RarpAnnounce(f, a.Mac)));
        Assert.Equal(5, b.Received.Count);
        Assert.Equal(5, a.Counters.DropPackets);
        // A VM NIC is an access port: an 802.1Q tag of its own (even from its MAC and IP) does not pass.
        net.Send("a", TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, a.Mac, Ip1, Ip2, 1, 2, new byte[4], vlan: 10)));
        Assert.Equal(1, a.Counters.DropsByReason[(int)DropReason.TaggedOnAccess]);
        Assert.Equal(5, b.Received.Count);
    }

    [Fact]
    public void Acl_deny_rules_hold_in_both_directions_and_priority_decides()
    {
        var spec = TestNet.Vxlan(1, "blue", 5001, 2) with
        {
            Acl =
            [
                TestNet.Acl("allow", "", "icmp", priority: 100),
                TestNet.Acl("deny", "in", "tcp", portMin: 23, priority: 90),
                TestNet.Acl("deny", "out", "udp", cidr: "10.0.0.0/30", portMin: 5000, portMax: 5999, priority: 80),
                TestNet.Acl("allow", "out", "udp", cidr: "10.0.0.2/32", portMin: 5353, priority: 85),
                TestNet.Acl("deny", "", "any", cidr: "10.0.0.66", priority: 10),
            ],
        };
        var net = new TestNet().Networks(spec);
        var tunnel = net.Tunnel();
        var a = net.Vm("a", "blue", "52:54:00:00:00:01", "10.0.0.1");
        var b = net.Vm("b", "blue", "52:54:00:00:00:02", "10.0.0.2");
        int got = 0;
        void Expect(bool delivered, byte[] frame, string from = "a")
        {
            net.Send(from, frame);
            int now = b.Received.Count + tunnel.Received.Count;
            Assert.Equal(delivered ? got + 1 : got, now);
            got = now;
        }
        // telnet into b is denied ("in"), ssh is not.
        Expect(false, TestNet.Build(f => PacketBuilder.Tcp(f, b.Mac, a.Mac, Ip1, Ip2, 40000, 23, 1, 0, TcpSegment.Syn, default)));
        Assert.Equal(1, b.Counters.DropsByReason[(int)DropReason.Acl]);
        Expect(true, TestNet.Build(f => PacketBuilder.Tcp(f, b.Mac, a.Mac, Ip1, Ip2, 40000, 22, 1, 0, TcpSegment.Syn, default)));
        // "in" applies towards VMs only: a remote VM is not protected here (its own node does that).
        var remote = MacAddress.Parse("52:54:00:00:00:09");
        net.Dp.SetRemoteMacs(new Dictionary<(int, ulong), uint> { [(1, remote.Value)] = 2 });
        Expect(true, TestNet.Build(f => PacketBuilder.Tcp(f, remote, a.Mac, Ip1, IpBits.ParseIpv4("10.0.0.9"), 40000, 23, 1, 0, TcpSegment.Syn, default)));
        // "out" UDP 5000-5999 to 10.0.0.0/30 denied, except 5353 to 10.0.0.2 (higher priority allow).
        Expect(false, TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, a.Mac, Ip1, Ip2, 1, 5001, new byte[4])));
        Assert.Equal(1, a.Counters.DropsByReason[(int)DropReason.Acl]);
        Expect(true, TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, a.Mac, Ip1, Ip2, 1, 5353, new byte[4])));
        Expect(true, TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, a.Mac, Ip1, Ip2, 1, 6000, new byte[4])));
        // From b (same rules, other direction): b -> a UDP 5001 to 10.0.0.1 is "out" for b: denied.
        Expect(false, TestNet.Build(f => PacketBuilder.Udp(f, a.Mac, b.Mac, Ip2, Ip1, 1, 5001, new byte[4])), from: "b");
        // Traffic with 10.0.0.66 is denied both ways; ICMP is allowed by the higher-priority rule.
        var x = MacAddress.Parse("52:54:00:00:00:66");
        var bx = net.Access("bx", "blue");
        Expect(false, TestNet.Build(f => PacketBuilder.Udp(f, b.Mac, x, IpBits.ParseIpv4("10.0.0.66"), Ip2, 1, 80, new byte[4])), from: "bx");
        Expect(true, TestNet.Build(f => PacketBuilder.IcmpEcho(f, b.Mac, x, IpBits.ParseIpv4("10.0.0.66"), Ip2, 1, 1, new byte[4])), from: "bx");
        // ARP is never subject to ACLs.
        Expect(true, TestNet.Build(f => PacketBuilder.Arp(f, ArpPacket.OpReply, b.Mac, x, IpBits.ParseIpv4("10.0.0.66"), b.Mac, Ip2)), from: "bx");
    }

    [Fact]
    public void Trace_shows_tables_actions_and_outputs()
    {
        var spec = TestNet.Vxlan(1, "blue", 5001, 2) with { Acl = [TestNet.Acl("deny", "in", "tcp", portMin: 23, priority: 90)] };
        var net = new TestNet().Networks(spec);
        net.Dp.SetNodeNames([(2, "n2")]);
        net.Tunnel();
        var a = net.Vm("a", "blue", "52:54:00:00:00:01", "10.0.0.1");
        var b = net.Vm("b", "blue", "52:54:00:00:00:02", "10.0.0.2");
        var frame = TestNet.Build(f => PacketBuilder.Tcp(f, MacAddress.Broadcast, a.Mac, Ip1, Ip2, 1, 23, 0, 0, TcpSegment.Syn, default));
        Assert.Equal(FrameError.None, FrameParser.Parse(frame, a.Number, out var key, out _));
        var trace = new List<string>();
        var d = net.Dp.Compute(key, a, trace);
        var text = string.Join('\n', trace);
        Assert.Contains("0. priority 300 in_port=a,vlan_tci=0,dl_src=52:54:00:00:00:01,ip,nw_src=10.0.0.1", text);
        Assert.Contains("set_network:blue", text);
        Assert.Contains("normal", text);
        Assert.Contains("broadcast: flood", text);
        Assert.Contains("drop(acl)", text);
        Assert.Contains("encap(vxlan,vni=5001,node=n2),output:vxlan0", text);
        Assert.Contains("Denied by ACL: b", text);
        Assert.Equal([b.Number], d.AclDenied);
    }
}
