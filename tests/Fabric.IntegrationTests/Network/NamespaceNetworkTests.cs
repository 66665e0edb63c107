// Issue 6 on a wire: two real nodes in two network namespaces joined by a veth pair (NamespaceCluster).
// A VLAN network must cross the veth as 802.1Q-tagged frames and a VXLAN network as UDP/4789 between the
// namespaces' addresses; tshark (Wireshark's decoder, which nobody here wrote) must read captures of
// both exactly as our codec does. Needs root; under CI=true it never skips.
using Fabric.IntegrationTests.Network.Support;
using Fabric.IntegrationTests.Support;
using Fabric.Proto;
using Fabric.Switch.Capture;
using Fabric.Switch.Packets;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.Network;

public sealed class NamespaceNetworkTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private static readonly TestVm L1 = new("l1", "n1", "lan", "52:54:00:14:00:01", "10.20.0.11");
    private static readonly TestVm L2 = new("l2", "n2", "lan", "52:54:00:14:00:02", "10.20.0.12");
    private static readonly TestVm O1 = new("o1", "n1", "overlay", "52:54:00:0a:00:01", "10.10.0.11");
    private static readonly TestVm O2 = new("o2", "n2", "overlay", "52:54:00:0a:00:02", "10.10.0.12");

    private const string Networks = """

        [[network]]
        name = "lan"
        kind = "vlan"
        vlan = 100
        subnet = "10.20.0.0/24"

        [[network]]
        name = "overlay"
        kind = "vxlan"
        vni = 5001
        subnet = "10.10.0.0/24"

        """;

    [RequiresNamespacesFact]
    public async Task Vlan_crosses_the_veth_tagged_vxlan_as_udp_4789_and_tshark_decodes_both_as_our_codec_does()
    {
        var missing = RequiresNamespacesFactAttribute.Missing();
        Assert.True(missing.Count == 0, $"this test needs {string.Join(", ", missing)} (CI installs them: .ci/packages.sh)");
        await using var cluster = NamespaceCluster.Create(Networks + TestVm.Toml([L1, L2, O1, O2]));
        var nics = new List<AttachedNic>();
        try
        {
            await cluster.StartAsync();
            // The CLI runs in namespace A; a whole cluster config is a valid `net apply` file (its networks only).
            var apply = await cluster.CliAsync("net", "apply", cluster.ConfigPath);
            Assert.True(apply.ExitCode == 0, apply.ToString());
            Assert.Contains("+ network lan (vlan 100", apply.Stdout);
            Assert.Contains("+ network overlay (vxlan 5001", apply.Stdout);
            await cluster.WaitForSwitchesAsync(await cluster.DefineVmsAsync());
            foreach (var vm in new[] { L1, L2, O1, O2 }) nics.Add(await AttachAsync(cluster, vm));
            var (l1, l2, o1, o2) = (nics[0].Nic, nics[1].Nic, nics[2].Nic, nics[3].Nic);

            var wire = Path.Combine(cluster.Home, "veth.pcap");
            IReadOnlyList<PcapReader.Record> all;
            using (var tshark = new NetnsTshark(cluster.Namespaces[0], cluster.Veth, wire))
            {
                await tshark.WaitStartedAsync(TimeSpan.FromSeconds(30));
                // VLAN: l1's announcement and pings cross the veth tagged and reach l2 on the other node.
                int mark = l2.Mark;
                var garp = new byte[64];
                await l1.SendAsync(garp.AsMemory(0, PacketBuilder.GratuitousArp(garp, L1.MacAddress, L1.Address)));
                await l2.WaitForAsync((k, _) => k.IsArp && k.Source == L1.MacAddress, Deadline, "l1's gratuitous ARP over the VLAN uplink", mark);
                Assert.Equal(L2.MacAddress, await l1.ResolveAsync(L2.Address, Deadline));
                for (ushort s = 1; s <= 3; s++) await l1.PingAsync(L2.MacAddress, L2.Address, s, Deadline);
                await l2.PingAsync(L1.MacAddress, L1.Address, 4, Deadline);
                // VXLAN between the namespaces' addresses.
                for (ushort s = 1; s <= 3; s++) await o1.PingAsync(O2.MacAddress, O2.Address, s, Deadline);
                // dumpcap hands frames over in blocks: wait until the file has them all, then stop.
                all = await tshark.WaitForFramesAsync(records => Ours(records).Count(IsIcmp) >= 14, TimeSpan.FromSeconds(30),
                    "the 8 tagged and 6 tunnelled ICMP frames");
                tshark.Stop();
                output.WriteLine(tshark.Stderr);
            }

            // The frames of our networks on the wire (the veth also carries the nodes' gRPC).
            var ours = Path.Combine(cluster.Home, "ours.pcap");
            int kept = 0;
            using (var writer = new PcapWriter(File.Create(ours)))
            {
                foreach (var r in Ours(all))
                {
                    writer.Write(r.Timestamp, r.Data);
                    kept++;
                }
            }
            output.WriteLine($"{all.Count} frames on the veth, {kept} of them VLAN-tagged or VXLAN");
            var rows = await TsharkDecode.AssertMatchesCodecAsync(ours);
            Assert.Equal(kept, rows.Count);
            var tagged = rows.Where(r => r["vlan.id"].Length > 0).ToList();
            var tunnelled = rows.Where(r => r["vxlan.vni"].Length > 0).ToList();
            Assert.Contains(tagged, r => r["vlan.id"] == "100" && r["ip.src"] == L1.Ip && r["ip.dst"] == L2.Ip && r["icmp.type"] == "8");
            Assert.Contains(tagged, r => r["vlan.id"] == "100" && r["ip.src"] == L2.Ip && r["ip.dst"] == L1.Ip && r["icmp.type"] == "0");
            Assert.All(tagged, r => Assert.Equal("100", r["vlan.id"]));
            Assert.Contains(tunnelled, r => r["vxlan.vni"] == "5001" && r["udp.dstport"] == "4789"
                && r["ip.src"] == $"{NamespaceCluster.Address(0)},{O1.Ip}" && r["ip.dst"] == $"{NamespaceCluster.Address(1)},{O2.Ip}" && r["icmp.type"] == "8");
            Assert.Contains(tunnelled, r => r["vxlan.vni"] == "5001" && r["ip.src"] == $"{NamespaceCluster.Address(1)},{O2.Ip}" && r["icmp.type"] == "0");
            // Neither network's frames travel the other's way.
            Assert.DoesNotContain(tagged, r => r["ip.src"].Contains("10.10.0.", StringComparison.Ordinal));
            Assert.DoesNotContain(tunnelled, r => r["ip.src"].Contains("10.20.0.", StringComparison.Ordinal) || r["vlan.id"].Length > 0);

            // `fabric net capture` of the overlay (CLI in namespace A, both nodes): tshark reads it as our codec does.
            var capturePath = Path.Combine(cluster.Home, "overlay.pcap");
            var capture = cluster.CliAsync("net", "capture", "overlay", "--out", capturePath, "--count", "8", "--json");
            var stop = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            ushort sequence = 100;
            while (!capture.IsCompleted && DateTime.UtcNow < stop)
            {
                await o1.PingAsync(O2.MacAddress, O2.Address, sequence++, Deadline);
                await Task.WhenAny(capture, Task.Delay(100));
            }
            var captured = await capture;
            Assert.True(captured.ExitCode == 0, captured.ToString());
            var decoded = await TsharkDecode.AssertMatchesCodecAsync(capturePath);
            Assert.Equal(8, decoded.Count);
            Assert.All(decoded, r => Assert.Contains(r["ip.src"], new[] { O1.Ip, O2.Ip }));
            Assert.All(decoded, r => Assert.Equal("", r["vlan.id"] + r["vxlan.vni"]));

            // The uplink and the tunnel count what crossed them.
            var trunk = await cluster.Admin("n2").PortAsync(cluster.Veth);
            Assert.Equal("trunk", trunk.Kind);
            Assert.True(trunk.TxPackets >= 2 && trunk.RxPackets >= 4, trunk.ToString());
            Assert.True((await cluster.Admin("n1").PortAsync("vxlan0")).TxPackets >= 3);
        }
        catch
        {
            output.WriteLine(cluster.Logs());
            throw;
        }
        finally
        {
            foreach (var nic in nics) await nic.DisposeAsync();
        }
    }

    /// <summary>Frames of our networks on the veth: 802.1Q-tagged, or VXLAN.</summary>
    private static IEnumerable<PcapReader.Record> Ours(IEnumerable<PcapReader.Record> records) =>
        records.Where(r => FakeStreamNic.TryParse(r.Data, out var k, out _) && (k.HasVlan || (k.IpProto == IpProtocol.Udp && k.L4Dst == VxlanHeader.DefaultPort)));

    /// <summary>A tagged ICMP frame, or a VXLAN datagram carrying one.</summary>
    private static bool IsIcmp(PcapReader.Record r)
    {
        if (!FakeStreamNic.TryParse(r.Data, out var k, out var layout)) return false;
        if (k.HasVlan) return k.IpProto == IpProtocol.Icmp;
        var payload = r.Data.AsSpan(layout.L4Offset + UdpDatagram.HeaderLength).ToArray();
        return FrameParser.ParseVxlan(payload, 0, out var inner, out _) == FrameError.None && inner.IpProto == IpProtocol.Icmp;
    }

    private static async Task<AttachedNic> AttachAsync(NamespaceCluster cluster, TestVm vm)
    {
        var nic = new FakeStreamNic(vm.Port, Path.Combine(cluster.Home, vm.Port + ".sock"), vm.MacAddress, vm.Address);
        var admin = cluster.Admin(vm.Node);
        try
        {
            await admin.AttachAsync(new AttachPortRequest { Port = vm.Port, Network = vm.Network, Kind = "stream", SocketPath = nic.SocketPath, Mac = vm.Mac, Ip = vm.Cidr });
            await nic.WaitConnectedAsync(Deadline);
        }
        catch
        {
            await nic.DisposeAsync();
            throw;
        }
        return new AttachedNic(vm, admin, nic);
    }
}
