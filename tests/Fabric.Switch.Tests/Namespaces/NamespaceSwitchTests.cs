// Two network namespaces joined by a veth pair, one switch in each (its datapath thread enters the
// namespace before it opens any socket). A VLAN network is carried 802.1Q-tagged on the veth, a VXLAN
// network as UDP/4789 between the namespaces' addresses. tshark captures the veth and must decode every
// frame (VLAN id, VNI, inner frame) as our codec does. Needs root; under CI=true it runs, never skips.
using Fabric.Core.Net;
using Fabric.Proto;
using Fabric.Switch.Capture;
using Fabric.Switch.Control;
using Fabric.Switch.Flows;
using Fabric.Switch.Packets;
using Fabric.Switch.Tests.Support;
using Xunit.Abstractions;

namespace Fabric.Switch.Tests.Namespaces;

public sealed class NamespaceSwitchTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private readonly ITestOutputHelper _out;

    public NamespaceSwitchTests(ITestOutputHelper output) { _out = output; }

    // 802.1Q tag (0x8100) then ARP (0x0806): the flooded broadcast, the last frame the test sends.
    private static bool IsTaggedArp(byte[] frame) =>
        frame.Length >= 18 && frame[12] == 0x81 && frame[13] == 0x00 && frame[16] == 0x08 && frame[17] == 0x06;

    /// <summary>ICMP directly, tagged, or inside VXLAN.</summary>
    private static bool IsIcmp(byte[] frame)
    {
        if (FrameParser.Parse(frame.ToArray(), 0, out var k, out var layout) != FrameError.None) return false;
        if (k.EthType == EtherType.Ipv4 && k.IpProto == IpProtocol.Icmp) return true;
        if (k.EthType != EtherType.Ipv4 || k.IpProto != IpProtocol.Udp || k.L4Dst != VxlanHeader.DefaultPort) return false;
        int vx = layout.L4Offset + UdpDatagram.HeaderLength;
        return FrameParser.ParseVxlan(frame.AsSpan(vx).ToArray(), 0, out var inner, out _) == FrameError.None && inner.IpProto == IpProtocol.Icmp;
    }

    [MachineFact(Needs.Root | Needs.Iproute | Needs.Tshark)]
    public async Task Vlan_and_vxlan_between_namespaces_decode_in_tshark_as_in_our_codec()
    {
        string id = NetNs.UniqueSuffix();
        string dir = Path.Combine("/tmp", $"fsn-{id}");
        Directory.CreateDirectory(dir);
        using var a = new NetNs($"fsa-{id}");
        using var b = new NetNs($"fsb-{id}");
        const string uplink = "up0";
        NetNs.Veth(a, b, uplink);
        // The underlay addresses (VXLAN endpoints); VLAN frames share the same wire, tagged.
        a.Run("ip", "addr", "add", "172.30.9.1/24", "dev", uplink);
        b.Run("ip", "addr", "add", "172.30.9.2/24", "dev", uplink);
        foreach (var ns in new[] { a, b }) ns.Exec("ethtool", "-K", uplink, "tx", "off", "tso", "off", "gso", "off", "gro", "off");

        var map = new ClusterMap { Epoch = 1 };
        map.Nodes.Add(TestCluster.Node(1, "n1", "172.30.9.1"));
        map.Nodes.Add(TestCluster.Node(2, "n2", "172.30.9.2"));
        map.Networks.Add(TestCluster.Vlan(1, "lan", 100, uplink: uplink));
        map.Networks.Add(TestCluster.Vxlan(2, "overlay", 5001));
        map.Vms.Add(TestCluster.Vm(1, "vm1", 1, ("lan", "52:54:00:14:00:01", "10.20.0.11/24")));
        map.Vms.Add(TestCluster.Vm(2, "vm2", 2, ("lan", "52:54:00:14:00:02", "10.20.0.12/24")));
        map.Vms.Add(TestCluster.Vm(3, "vm3", 1, ("overlay", "52:54:00:0a:00:03", "10.10.0.13/24")));
        map.Vms.Add(TestCluster.Vm(4, "vm4", 2, ("overlay", "52:54:00:0a:00:04", "10.10.0.14/24")));

        var vms = new List<FakeVm>();
        await using var n1 = new VirtualSwitch(new SwitchOptions { NodeName = "n1", NetworkNamespace = a.Path });
        await using var n2 = new VirtualSwitch(new SwitchOptions { NodeName = "n2", NetworkNamespace = b.Path });
        try
        {
            await n1.StartAsync();
            await n2.StartAsync();
            await n1.ApplyMapAsync(map, 1);
            await n2.ApplyMapAsync(map, 2);
            Assert.Empty(n1.Problems);
            Assert.Empty(n2.Problems);

            async Task<FakeVm> Vm(VirtualSwitch sw, string name, string net, string mac, string ip)
            {
                var vm = new FakeVm(name, Path.Combine(dir, name + ".sock"), MacAddress.Parse(mac), IpBits.ParseIpv4(ip));
                vms.Add(vm);
                var r = await sw.AttachStreamPortAsync(new VmPortSpec($"{name}-0", net, mac, ip + "/24"), vm.SocketPath, true, default);
                Assert.True(r.Ok, r.Error);
                await vm.WaitConnectedAsync(Timeout);
                return vm;
            }
            var vm1 = await Vm(n1, "vm1", "lan", "52:54:00:14:00:01", "10.20.0.11");
            var vm2 = await Vm(n2, "vm2", "lan", "52:54:00:14:00:02", "10.20.0.12");
            var vm3 = await Vm(n1, "vm3", "overlay", "52:54:00:0a:00:03", "10.10.0.13");
            var vm4 = await Vm(n2, "vm4", "overlay", "52:54:00:0a:00:04", "10.10.0.14");

            using var tshark = new TsharkCapture(a, uplink, Path.Combine(dir, "uplink.pcap"));
            await tshark.WaitReadyAsync(Timeout);

            await vm1.PingAsync(vm2.Ip, 1, Timeout);
            await vm1.PingMacAsync(vm2.Mac, vm2.Ip, 2, Timeout);
            await vm3.PingAsync(vm4.Ip, 1, Timeout);
            await vm3.PingMacAsync(vm4.Mac, vm4.Ip, 2, Timeout);
            // A broadcast on the VLAN network (an ARP for an unknown IP) is flooded tagged.
            var buf = new byte[64];
            await vm1.SendAsync(buf[..PacketBuilder.ArpRequest(buf, vm1.Mac, vm1.Ip, IpBits.ParseIpv4("10.20.0.99"))]);
            await vm2.WaitForAsync((k, _) => k.EthType == EtherType.Arp && k.IpDst == IpBits.FromIpv4(IpBits.ParseIpv4("10.20.0.99")), Timeout, "flooded ARP");
            // Neither network's VMs saw the other network's frames.
            Assert.DoesNotContain(vm2.Received, f => MacAddress.Read(f.AsSpan(6)) == vm3.Mac);
            Assert.DoesNotContain(vm4.Received, f => MacAddress.Read(f.AsSpan(6)) == vm1.Mac);
            // dumpcap writes each frame as it gets it; wait until the frames we expect are in the file (a
            // SIGINT right away may lose frames still in flight between the kernel and dumpcap).
            var pcap = await tshark.WaitForFramesAsync(records => records.Count(r => IsIcmp(r.Data)) >= 8 && records.Any(r => IsTaggedArp(r.Data)), Timeout);
            tshark.Stop();
            pcap = PcapReader.TryRead(File.ReadAllBytes(tshark.Path), out var err);
            Assert.True(err is null, $"tshark's file does not read back: {err}; tshark said: {tshark.Stderr}");
            var rows = TsharkFields.Read(tshark.Path);
            Assert.Equal(pcap!.Records.Count, rows.Count);
            int vlanIcmp = 0, vxlanIcmp = 0, vlanArp = 0;
            for (int i = 0; i < rows.Count; i++)
            {
                var frame = pcap.Records[i].Data;
                TsharkFields.AssertMatchesCodec(frame, rows[i]);
                Assert.Equal(FrameError.None, FrameParser.Parse(frame.ToArray(), 0, out var k, out var layout));
                if (k.HasVlan)
                {
                    Assert.Equal(100, k.VlanId);
                    Assert.True(k.Source == vm1.Mac || k.Source == vm2.Mac, $"a tagged frame from {k.Source}");
                    if (k.IpProto == IpProtocol.Icmp && k.EthType == EtherType.Ipv4) vlanIcmp++;
                    if (k.EthType == EtherType.Arp) vlanArp++;
                }
                else if (k.EthType == EtherType.Ipv4 && k.IpProto == IpProtocol.Udp && k.L4Dst == VxlanHeader.DefaultPort)
                {
                    int vx = layout.L4Offset + UdpDatagram.HeaderLength;
                    Assert.Equal(FrameError.None, FrameParser.ParseVxlan(frame.AsSpan(vx).ToArray(), 0, out var inner, out _));
                    Assert.Equal(5001u, inner.Vni);
                    Assert.True(inner.Source == vm3.Mac || inner.Source == vm4.Mac, $"a VXLAN frame from {inner.Source}");
                    Assert.False(inner.HasVlan);
                    if (inner.IpProto == IpProtocol.Icmp && inner.EthType == EtherType.Ipv4) vxlanIcmp++;
                }
            }
            _out.WriteLine($"{rows.Count} frames on the veth: {vlanIcmp} tagged ICMP, {vlanArp} tagged ARP, {vxlanIcmp} VXLAN ICMP");
            Assert.Equal(4, vlanIcmp);  // 2 requests, 2 replies
            Assert.Equal(4, vxlanIcmp);
            Assert.True(vlanArp >= 1);

            var trunk = n1.GetStats().Ports.Single(p => p.Name == uplink);
            Assert.True(trunk.TxPackets >= 3 && trunk.RxPackets >= 2);
        }
        finally
        {
            foreach (var vm in vms) await vm.DisposeAsync();
            try { Directory.Delete(dir, true); } catch { }
        }
    }
}
