// The isolation property: whatever frames arrive on whatever ports (random, broadcast, multicast,
// spoofed, tagged with foreign VLANs, carried with foreign VNIs), a frame never leaves by a port of
// another network, never goes back into the tunnel it came from, and a VM never gets a spoofed frame
// through.
using Fabric.Switch.Datapath;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;
using Fabric.Switch.Tests.Support;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Switch.Tests.Datapath;

public class IsolationPropertyTests
{
    private static readonly string[] PortNames = ["b1", "b2", "bx", "p1", "g1", "r1", "r2", "ra", "o1", "trunk0", "vxlan0"];
    private static readonly ushort[] Vlans = [10, 20, 30, 0];
    private static readonly uint[] Vnis = [5001, 5002, 5003, 5004];

    public readonly record struct FrameSpec(int Port, int SrcKind, int DstKind, int Other, int L3, int Tag, uint Node, ulong Random);

    private static TestNet Build()
    {
        var net = new TestNet().Networks(
            TestNet.Vxlan(1, "blue", 5001, 2, 3),
            TestNet.Vxlan(2, "green", 5002, 2),
            TestNet.Vlan(3, "red", 10),
            TestNet.Vlan(4, "orange", 20),
            // Same subnet as blue, other VNI: addresses overlap, frames must not.
            TestNet.Vxlan(5, "purple", 5004, 3));
        net.Vm("b1", "blue", "52:54:00:01:00:01", "10.0.0.1");
        net.Vm("b2", "blue", "52:54:00:01:00:02", "10.0.0.2");
        net.Access("bx", "blue");
        net.Vm("p1", "purple", "52:54:00:05:00:01", "10.0.0.1");
        net.Vm("g1", "green", "52:54:00:02:00:01", "10.1.0.1");
        net.Vm("r1", "red", "52:54:00:03:00:01", "10.2.0.1");
        net.Vm("r2", "red", "52:54:00:03:00:02", "10.2.0.2");
        net.Access("ra", "red");
        net.Vm("o1", "orange", "52:54:00:04:00:01", "10.3.0.1");
        net.Trunk();
        net.Tunnel();
        return net;
    }

    private static string? NetworkOfVlan(ushort vlan) => vlan switch { 10 => "red", 20 => "orange", _ => null };
    private static string? NetworkOfVni(uint vni) => vni switch { 5001 => "blue", 5002 => "green", 5004 => "purple", _ => null };

    private static readonly Gen<FrameSpec> SpecGen =
        from port in Gen.Choose(0, PortNames.Length - 1)
        from src in Gen.Choose(0, 4)
        from dst in Gen.Choose(0, 4)
        from other in Gen.Choose(0, PortNames.Length - 1)
        from l3 in Gen.Choose(0, 5)
        from tag in Gen.Choose(0, 3)
        from node in Gen.Choose(1, 4)
        from rnd in ArbMap.Default.GeneratorFor<ulong>()
        select new FrameSpec(port, src, dst, other, l3, tag, (uint)node, rnd);

    [Fact]
    public void Frames_never_cross_networks()
    {
        Prop.ForAll(Gen.ListOf(SpecGen).Select(l => l.ToArray()).ToArbitrary(), specs =>
        {
            var net = Build();
            foreach (var s in specs) CheckOne(net, s);
            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200).WithEndSize(300));
    }

    private static void CheckOne(TestNet net, FrameSpec s)
    {
        net.ClearReceived();
        string inName = PortNames[s.Port];
        var inPort = net.Ports[inName];
        MacAddress ownMac = inPort.Kind == PortKind.Vm ? inPort.Mac : new MacAddress(0x0200_0000_0000UL | (ulong)s.Port << 8 | 1);
        MacAddress otherMac = net.Ports[PortNames[s.Other]].Mac.IsZero ? new MacAddress(0x0200_0000_0000UL | (ulong)s.Other << 8 | 1) : net.Ports[PortNames[s.Other]].Mac;
        var randomMac = new MacAddress(s.Random & 0xFEFF_FFFF_FFFF); // unicast
        MacAddress src = s.SrcKind switch { 0 or 1 => ownMac, 2 => otherMac, 3 => randomMac, _ => new MacAddress(0x0100_5E00_0001) };
        MacAddress dst = s.DstKind switch { 0 => MacAddress.Broadcast, 1 => new MacAddress(0x3333_0000_0001), 2 => otherMac, 3 => randomMac, _ => ownMac };
        uint srcIp = inPort.Ipv4 != 0 && s.SrcKind != 1 ? inPort.Ipv4 : (uint)(s.Random >> 32);
        uint dstIp = 0x0A000000u | (uint)(s.Random & 0xFF);
        ushort? vlan = inPort.Kind == PortKind.Trunk && Vlans[s.Tag] != 0 ? Vlans[s.Tag] : null;
        var frame = TestNet.Build(b => s.L3 switch
        {
            0 => PacketBuilder.ArpRequest(b, src, srcIp, dstIp, vlan),
            1 => PacketBuilder.Udp(b, dst, src, srcIp, dstIp, 1000, 53, new byte[s.Port], vlan),
            2 => PacketBuilder.Tcp(b, dst, src, srcIp, dstIp, 1000, 22, 1, 0, TcpSegment.Syn, default, vlan),
            3 => PacketBuilder.IcmpEcho(b, dst, src, srcIp, dstIp, 1, 1, new byte[8], vlan: vlan),
            4 => PacketBuilder.RarpAnnounce(b, src, vlan),
            _ => PacketBuilder.Ipv6Udp(b, dst, src, s.Random, s.Random + 1, 1, 2, new byte[3], vlan),
        });
        if (s.L3 == 0 && s.DstKind != 0) new MacAddress(dst.Value).Write(frame); // ARP to a unicast MAC too

        string? inNet;
        uint vni = Vnis[s.Tag];
        if (inPort.Kind == PortKind.Tunnel)
        {
            inNet = NetworkOfVni(vni);
            net.SendFromNode(s.Node, vni, frame);
        }
        else
        {
            inNet = inPort.Kind == PortKind.Trunk ? (vlan is ushort v ? NetworkOfVlan(v) : null) : inPort.Network;
            net.Send(inName, frame);
        }

        // Spoofed: a foreign source MAC, or a foreign IPv4 source (an ARP probe from 0.0.0.0 is legitimate).
        bool spoofedIp = s.SrcKind == 1 && s.L3 is 0 or 1 or 2 or 3 && srcIp != inPort.Ipv4 && !(s.L3 == 0 && srcIp == 0);
        bool spoofed = inPort.Kind == PortKind.Vm && (src != inPort.Mac || spoofedIp);
        foreach (var (name, port) in net.Ports)
        {
            foreach (var sent in port.Received)
            {
                Assert.True(inNet is not null, $"a frame of no network left by {name}");
                Assert.False(spoofed, $"a spoofed frame from {inName} left by {name}: {s} src={src} srcIp={IpBits.FormatIpv4(srcIp)}");
                Assert.NotEqual(inName, name);
                switch (port.Kind)
                {
                    case PortKind.Vm:
                    case PortKind.Access:
                        Assert.Equal(inNet, port.Network);
                        AssertSameInner(sent.Frame, src);
                        break;
                    case PortKind.Trunk:
                        Assert.Equal(FrameError.None, FrameParser.Parse(sent.Frame, 0, out var tk, out _));
                        Assert.True(tk.HasVlan);
                        Assert.Equal(inNet, NetworkOfVlan(tk.VlanId));
                        Assert.Equal(src, tk.Source);
                        break;
                    case PortKind.Tunnel:
                        Assert.NotEqual(PortKind.Tunnel, inPort.Kind);
                        Assert.Equal(FrameError.None, FrameParser.ParseVxlan(sent.Frame, 0, out var vk, out _));
                        Assert.Equal(inNet, NetworkOfVni(vk.Vni));
                        var spec = net.Dp.Network(inNet!)!.Spec;
                        bool known = net.Dp.Network(inNet!)!.Fdb.TryLookup(new MacAddress(vk.EthDst), out var e) && e.Location.RemoteNode == sent.Op.Node;
                        Assert.True(spec.FloodNodes.Contains(sent.Op.Node) || known, $"sent to node {sent.Op.Node} outside {inNet}");
                        Assert.Equal(src, vk.Source);
                        break;
                }
            }
        }
    }

    private static void AssertSameInner(byte[] frame, MacAddress src)
    {
        Assert.Equal(FrameError.None, FrameParser.Parse(frame, 0, out var k, out _));
        Assert.False(k.HasVlan);
        Assert.Equal(src, k.Source);
    }
}
