// Issue 6 with real node processes and no QEMU: a two-node cluster (`fabric up`, loopback addresses)
// whose VMs exist only in the map; the tests play their NICs with fake peers on QEMU's stream protocol,
// attached through the nodes' SwitchAdmin. One cluster for the whole class (each test attaches and
// detaches its own ports).
using System.Diagnostics;
using System.Globalization;
using Fabric.Core.Map;
using Fabric.IntegrationTests.Network.Support;
using Fabric.IntegrationTests.Support;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Switch.Packets;
using FsCheck;
using FsCheck.Fluent;
using Xunit.Abstractions;
using static Fabric.IntegrationTests.Network.Support.VxlanClusterFixture;

namespace Fabric.IntegrationTests.Network;

public sealed class VxlanNetworkTests(VxlanClusterFixture fixture, ITestOutputHelper output) : IClassFixture<VxlanClusterFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static int _sequence = 1000;

    private static ushort NextSequence() => (ushort)Interlocked.Increment(ref _sequence);

    [Fact]
    public async Task Ports_on_two_nodes_exchange_arp_and_icmp_over_vxlan_and_their_counters_reach_metrics()
    {
        await using var b1 = await fixture.AttachAsync(B1);
        await using var b2 = await fixture.AttachAsync(B2);

        // ARP for a VM the map knows is answered by the asking node's switch, with the map's MAC.
        Assert.Equal(B2.MacAddress, await b1.Nic.ResolveAsync(B2.Address, Deadline));
        Assert.Equal(B1.MacAddress, await b2.Nic.ResolveAsync(B1.Address, Deadline));
        // ARP between the nodes: b2's gratuitous ARP (an announcement, never answered) crosses the tunnel to b1.
        int mark = b1.Nic.Mark;
        var garp = new byte[64];
        await b2.Nic.SendAsync(garp.AsMemory(0, PacketBuilder.GratuitousArp(garp, B2.MacAddress, B2.Address)));
        await b1.Nic.WaitForAsync((k, _) => k.IsArp && k.Source == B2.MacAddress && k.IpSrc == IpBits.FromIpv4(B2.Address) && k.IpDst == k.IpSrc,
            Deadline, "b2's gratuitous ARP", mark);

        for (int i = 0; i < 5; i++) await b1.Nic.PingAsync(B2.MacAddress, B2.Address, NextSequence(), Deadline);
        for (int i = 0; i < 3; i++) await b2.Nic.PingAsync(B1.MacAddress, B1.Address, NextSequence(), Deadline);

        // Port counters are Prometheus counters with port labels on each node's /metrics.
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://{fixture.Cluster.Address(0)}:9100/metrics");
        Assert.Contains("# TYPE fabric_switch_port_rx_packets_total counter", text);
        Assert.Contains("# TYPE fabric_switch_port_tx_packets_total counter", text);
        Assert.Contains("# TYPE fabric_switch_port_drop_packets_total counter", text);
        Assert.True(MetricValue(text, "fabric_switch_port_rx_packets_total", "b1-0") >= 8, text);
        Assert.True(MetricValue(text, "fabric_switch_port_tx_packets_total", "b1-0") >= 8, text);
        Assert.True(MetricValue(text, "fabric_switch_port_rx_packets_total", "vxlan0") >= 8, text);
        Assert.Contains("fabric_switch_port_rx_packets_total{kind=\"vm\",network=\"blue\",node=\"n1\",port=\"b1-0\"}", text);
    }

    private static double MetricValue(string text, string metric, string port)
    {
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(metric + "{", StringComparison.Ordinal) && l.Contains($"port=\"{port}\"", StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"no {metric} series for port {port} in /metrics");
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>Kinds of frames the property sends from blue's ports.</summary>
    public readonly record struct FrameSpec(int Sender, int Src, int SrcIp, int Dst, int Kind, ulong Random);

    private static readonly Gen<FrameSpec> FrameSpecs =
        from sender in Gen.Choose(0, 1)
        from src in Gen.Choose(0, 5)
        from srcIp in Gen.Choose(0, 2)
        from dst in Gen.Choose(0, 6)
        from kind in Gen.Choose(0, 8)
        from random in ArbMap.Default.GeneratorFor<ulong>()
        select new FrameSpec(sender, src, srcIp, dst, kind, random);

    [Fact]
    public async Task Ports_of_other_networks_never_see_a_frame_of_theirs_under_random_broadcast_multicast_and_spoofed_frames()
    {
        await using var b1 = await fixture.AttachAsync(B1);
        await using var b2 = await fixture.AttachAsync(B2);
        await using var r1 = await fixture.AttachAsync(R1);
        await using var r2 = await fixture.AttachAsync(R2);
        await using var g1 = await fixture.AttachAsync(G1);
        await using var g2 = await fixture.AttachAsync(G2);
        var blue = new[] { b1, b2 };
        var others = new[] { (r1, R2), (r2, R1), (g1, G2), (g2, G1) };
        var spoofBefore = await fixture.Admin("n1").DropsAsync(B1.Port, "spoofedmac");
        int cases = 0;

        // The property runs the real processes synchronously: off the test's synchronization context.
        await Task.Run(() => Prop.ForAll(Gen.ListOf(FrameSpecs).Select(l => l.ToArray()).ToArbitrary(), specs =>
        {
            RunCaseAsync(blue, others, specs).GetAwaiter().GetResult();
            cases++;
            return true;
        }).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(40).WithEndSize(24)));

        output.WriteLine($"{cases} cases; b1-0 dropped {await fixture.Admin("n1").DropsAsync(B1.Port, "spoofedmac") - spoofBefore} spoofed-MAC frames meanwhile");
        Assert.True(await fixture.Admin("n1").DropsAsync(B1.Port, "spoofedmac") > spoofBefore, "the property sent no spoofed frame from b1");
    }

    private static async Task RunCaseAsync(AttachedNic[] blue, (AttachedNic Nic, TestVm Peer)[] others, FrameSpec[] specs)
    {
        var marks = blue.Concat(others.Select(o => o.Nic)).ToDictionary(n => n.Vm.Name, n => n.Nic.Mark);
        foreach (var spec in specs)
        {
            var sender = blue[spec.Sender];
            await sender.Nic.SendAsync(BuildFrame(spec, sender.Vm, spec.Sender == 0 ? B2 : B1));
        }

        // Barriers. A ping each way makes both nodes process every earlier frame of b1 and b2 (one stream
        // per port, one tunnel socket per node, both in order); then an ARP request the local switch
        // answers reaches each other port behind whatever that switch wrote to it before.
        await blue[0].Nic.PingAsync(B2.MacAddress, B2.Address, NextSequence(), Deadline);
        await blue[1].Nic.PingAsync(B1.MacAddress, B1.Address, NextSequence(), Deadline);
        foreach (var (nic, peer) in others) Assert.Equal(peer.MacAddress, await nic.Nic.ResolveAsync(peer.Address, Deadline));

        foreach (var (nic, peer) in others)
        {
            var frames = nic.Nic.Received.Skip(marks[nic.Vm.Name]).ToList();
            foreach (var f in frames)
            {
                Assert.True(FakeStreamNic.TryParse(f, out var k, out _), $"{nic.Vm.Name} got an unparsable frame: {Convert.ToHexString(f)}");
                Assert.True(k.EthType == EtherType.Arp && k.IpProto == ArpPacket.OpReply && k.IpSrc == IpBits.FromIpv4(peer.Address) && k.Source == peer.MacAddress,
                    $"{nic.Vm.Name} ({nic.Vm.Network}) got a frame that is not its own ARP answer: {k} after {string.Join(", ", specs)}");
            }
        }
        var legitimateMacs = new[] { B1.MacAddress, B2.MacAddress, M1.MacAddress };
        var legitimateIps = new[] { B1.Address, B2.Address, M1.Address }.Select(IpBits.FromIpv4).Append(IpBits.FromIpv4(0)).ToArray();
        foreach (var nic in blue)
        {
            foreach (var f in nic.Nic.Received.Skip(marks[nic.Vm.Name]))
            {
                Assert.True(FakeStreamNic.TryParse(f, out var k, out _), $"{nic.Vm.Name} got an unparsable frame: {Convert.ToHexString(f)}");
                Assert.True(legitimateMacs.Contains(k.Source), $"{nic.Vm.Name} got a frame from {k.Source}, not a blue VM: {k}");
                Assert.False(k.HasVlan, $"{nic.Vm.Name} got a tagged frame: {k}");
                if (k.EthType is EtherType.Ipv4 or EtherType.Arp)
                    Assert.True(legitimateIps.Contains(k.IpSrc), $"{nic.Vm.Name} got a frame from address {IpBits.Format(k.IpSrc)}: {k}");
            }
        }
    }

    private static byte[] BuildFrame(FrameSpec s, TestVm self, TestVm peer)
    {
        var randomUnicast = new MacAddress((s.Random & 0xFEFF_FFFF_FFFF) | 0x0200_0000_0000);
        var src = s.Src switch
        {
            0 or 1 => self.MacAddress,
            2 => R1.MacAddress,
            3 => G2.MacAddress,
            4 => randomUnicast,
            _ => new MacAddress(0x0100_5E00_0001),
        };
        uint srcIp = s.SrcIp switch { 0 => self.Address, 1 => R2.Address, _ => (uint)(s.Random >> 32) };
        var dst = s.Dst switch
        {
            0 => MacAddress.Broadcast,
            1 => new MacAddress(0x0100_5E7F_0001),
            2 => new MacAddress(0x3333_0000_0001),
            3 => peer.MacAddress,
            4 => R2.MacAddress,
            5 => G1.MacAddress,
            _ => randomUnicast,
        };
        uint dstIp = (s.Random & 3) switch { 0 => peer.Address, 1 => R2.Address, 2 => G1.Address, _ => (uint)s.Random };
        var b = new byte[256];
        int n = s.Kind switch
        {
            0 => PacketBuilder.ArpRequest(b, src, srcIp, dstIp),
            1 => PacketBuilder.Udp(b, dst, src, srcIp, dstIp, 40000, 53, new byte[(int)(s.Random % 40)]),
            2 => PacketBuilder.Tcp(b, dst, src, srcIp, dstIp, 40000, (ushort)((s.Random & 4) != 0 ? 23 : 80), 1, 0, TcpSegment.Syn, default),
            3 => PacketBuilder.IcmpEcho(b, dst, src, srcIp, dstIp, 7, 1, new byte[16]),
            4 => PacketBuilder.RarpAnnounce(b, src),
            5 => PacketBuilder.Ipv6Udp(b, dst, src, s.Random, s.Random + 1, 1, 2, new byte[8]),
            6 => PacketBuilder.Udp(b, dst, src, srcIp, dstIp, 40000, 53, new byte[8], vlan: (ushort)(101 + (int)(s.Random & 1))),
            7 => PacketBuilder.Ethernet(b, dst, src, 0x88B5) + 46,
            _ => 1 + (int)(s.Random % 60),
        };
        if (s.Kind == 8) new Random((int)s.Random).NextBytes(b.AsSpan(0, n));
        if (s.Kind == 0 && s.Dst != 0) dst.Write(b); // ARP to a unicast or group address too
        return b[..n];
    }

    [Fact]
    public async Task Spoofed_source_mac_and_ip_are_dropped_and_counted_and_acl_deny_rules_hold()
    {
        await using var b1 = await fixture.AttachAsync(B1);
        await using var b2 = await fixture.AttachAsync(B2);
        var n1 = fixture.Admin("n1");
        var n2 = fixture.Admin("n2");
        var macBefore = await n1.DropsAsync(B1.Port, "spoofedmac");
        var ipBefore = await n1.DropsAsync(B1.Port, "spoofedip");
        var aclBefore = await n2.DropsAsync(B2.Port, "acl");
        int mark = b2.Nic.Mark;
        var b = new byte[128];

        // Three frames from another VM's MAC (one on another network), two from b1's MAC with another's IP.
        foreach (var spoofed in new[] { B2.MacAddress, R1.MacAddress, MacAddress.Parse("02:66:66:66:66:66") })
            await b1.Nic.SendAsync(b.AsMemory(0, PacketBuilder.Udp(b, B2.MacAddress, spoofed, B1.Address, B2.Address, 1, 9, new byte[8])));
        await b1.Nic.SendAsync(b.AsMemory(0, PacketBuilder.Udp(b, B2.MacAddress, B1.MacAddress, M1.Address, B2.Address, 1, 9, new byte[8])));
        await b1.Nic.SendAsync(b.AsMemory(0, PacketBuilder.ArpRequest(b, B1.MacAddress, M1.Address, B2.Address)));
        // ACL: "deny in tcp 23" holds at b2's node; port 80 passes.
        await b1.Nic.SendAsync(b.AsMemory(0, PacketBuilder.Tcp(b, B2.MacAddress, B1.MacAddress, B1.Address, B2.Address, 40000, 23, 1, 0, TcpSegment.Syn, default)));
        await b1.Nic.SendAsync(b.AsMemory(0, PacketBuilder.Tcp(b, B2.MacAddress, B1.MacAddress, B1.Address, B2.Address, 40000, 80, 1, 0, TcpSegment.Syn, default)));
        await b2.Nic.WaitForAsync((k, _) => k.IpProto == IpProtocol.Tcp && k.L4Dst == 80, Deadline, "the TCP SYN to port 80", mark);
        await b1.Nic.PingAsync(B2.MacAddress, B2.Address, NextSequence(), Deadline); // ICMP is allowed, and a barrier

        foreach (var f in b2.Nic.Received.Skip(mark))
        {
            Assert.True(FakeStreamNic.TryParse(f, out var k, out _));
            Assert.Equal(B1.MacAddress, k.Source);
            Assert.Equal(IpBits.FromIpv4(B1.Address), k.IpSrc);
            Assert.False(k.IpProto == IpProtocol.Tcp && k.L4Dst == 23, "the ACL let a TCP SYN to port 23 through");
        }
        Assert.Equal(3UL, await n1.DropsAsync(B1.Port, "spoofedmac") - macBefore);
        Assert.Equal(2UL, await n1.DropsAsync(B1.Port, "spoofedip") - ipBefore);
        Assert.Equal(1UL, await n2.DropsAsync(B2.Port, "acl") - aclBefore);
    }

    [Fact]
    public async Task A_mac_moved_to_another_node_is_reachable_there_after_its_first_announce()
    {
        await using var b1 = await fixture.AttachAsync(B1);
        await using var b2 = await fixture.AttachAsync(B2);
        var before = await fixture.AttachAsync(M1);
        await using (before)
        {
            await b1.Nic.PingAsync(M1.MacAddress, M1.Address, NextSequence(), Deadline);
            await b2.Nic.PingAsync(M1.MacAddress, M1.Address, NextSequence(), Deadline);
        }

        // The move, as a live migration does it: the destination port is attached inactive, activated at
        // switch-over, the source port goes away, and the guest announces itself (QEMU's RARP).
        await using var after = await fixture.AttachAsync(M1, node: "n2", active: false);
        await fixture.Admin("n2").ActivateAsync(M1.Port);
        var b = new byte[64];
        var announced = Stopwatch.GetTimestamp();
        await after.Nic.SendAsync(b.AsMemory(0, PacketBuilder.RarpAnnounce(b, M1.MacAddress)));
        // b1 (on n1, where m1 was) sends until an echo comes back from m1's new place.
        int mark = b1.Nic.Mark;
        var seen = Task.Run(() => b1.Nic.WaitForAsync((k, _) => k.IpProto == IpProtocol.Icmp && k.L4Src == IcmpMessage.EchoReply && k.Source == M1.MacAddress,
            Deadline, "an echo reply from m1 on n2", mark));
        while (!seen.IsCompleted)
        {
            await b1.Nic.SendEchoAsync(M1.MacAddress, M1.Address, NextSequence());
            await Task.WhenAny(seen, Task.Delay(2));
        }
        await seen;
        output.WriteLine($"m1 reachable from n1 {Stopwatch.GetElapsedTime(announced).TotalMilliseconds:F1} ms after its announce (timing is measured in bench/, not asserted)");
        var learned = (await fixture.Admin("n1").FdbAsync("blue")).Entries.Single(e => e.Mac == M1.Mac);
        Assert.Equal("n2", learned.Node);

        // The map catches up (the migration's last step): n1's entry becomes the control plane's again.
        var map = await MapAsync();
        using (var monitors = new MonitorClient([fixture.Cluster.Grpc("n1")]))
        {
            var update = new VmUpdate { Name = M1.Name, NodeId = map.FindNode("n2")!.Id };
            update.Fields.Add("node_id");
            await monitors.ApplyAsync("test: m1 moved to n2", CancellationToken.None, new MapChange { VmUpdate = update });
        }
        await Wait.UntilAsync(async () => (await fixture.Admin("n1").FdbAsync("blue")).Entries.Single(e => e.Mac == M1.Mac),
            e => e.Kind == "static" && e.Node == "n2", Deadline, "n1's switch to place m1 on n2 from the map");
        await b1.Nic.PingAsync(M1.MacAddress, M1.Address, NextSequence(), Deadline);
        await b2.Nic.PingAsync(M1.MacAddress, M1.Address, NextSequence(), Deadline);
    }

    private async Task<ClusterMap> MapAsync()
    {
        using var monitors = new MonitorClient([fixture.Cluster.Grpc("n1")]);
        return await monitors.GetLatestMapAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Net_apply_plans_applies_is_idempotent_and_refuses_to_remove_a_network_with_ports()
    {
        var file = Path.Combine(fixture.Cluster.Home, "networks.toml");
        const string Extra = """

            [[network]]
            name = "extra"
            kind = "vxlan"
            vni = 4000
            subnet = "10.9.0.0/24"
            mtu = 1400
            """;
        await File.WriteAllTextAsync(file, Networks + Extra);

        var dry = await fixture.Cluster.CliAsync("net", "apply", file, "--dry-run");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains("+ network extra (vxlan 4000, 10.9.0.0/24)", dry.Stdout);
        Assert.Contains("dry run: nothing applied", dry.Stdout);

        var apply = await fixture.Cluster.CliAsync("net", "apply", file);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Contains("= network blue (unchanged)", apply.Stdout);
        Assert.Contains("+ network extra", apply.Stdout);
        Assert.Contains("switches at epoch", apply.Stdout);
        // Every node's switch has it by the time apply returns.
        foreach (var node in fixture.Cluster.Nodes)
            Assert.Contains((await fixture.Admin(node).NetworksAsync()).Networks, n => n.Name == "extra" && n.Vni == 4000 && n.Mtu == 1400);

        var again = await fixture.Cluster.CliAsync("net", "apply", file);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("no changes", again.Stdout);

        var list = await fixture.Cluster.CliJsonAsync("net", "list");
        var names = list["networks"]!.AsArray().Select(n => (string)n!["name"]!).ToList();
        Assert.Equal(["blue", "extra", "green", "red"], names);
        var blueJson = list["networks"]!.AsArray().Single(n => (string)n!["name"]! == "blue")!;
        Assert.Equal(3, (int)blueJson["vms"]!);
        Assert.Equal(101, (int)blueJson["vni"]!);
        Assert.Equal(2, blueJson["acl"]!.AsArray().Count);

        // Back to the file without "extra": pruned.
        await File.WriteAllTextAsync(file, Networks);
        var prune = await fixture.Cluster.CliAsync("net", "apply", file);
        Assert.True(prune.ExitCode == 0, prune.ToString());
        Assert.Contains("- network extra", prune.Stdout);

        // A file without "blue", whose VMs have ports on it: refused, nothing applied, the error names the VMs.
        var withoutBlue = Networks[Networks.IndexOf("[[network]]\nname = \"red\"", StringComparison.Ordinal)..];
        await File.WriteAllTextAsync(file, withoutBlue);
        var refused = await fixture.Cluster.CliAsync("net", "apply", file);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("nothing was applied", refused.Stderr);
        Assert.Contains("network blue still has ports of VMs b1, b2, m1", refused.Stderr);
        Assert.Contains("! network blue", refused.Stdout);
        var still = await fixture.Cluster.CliJsonAsync("net", "list");
        Assert.Contains(still["networks"]!.AsArray(), n => (string)n!["name"]! == "blue");

        // A networks file must not carry other tables.
        await File.WriteAllTextAsync(file, Networks + "\n[[pool]]\nname = \"p\"\n");
        var wrong = await fixture.Cluster.CliAsync("net", "apply", file);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("does not belong in a networks file", wrong.Stderr);
    }

    [Fact]
    public async Task Net_show_fdb_trace_and_capture_follow_a_packet_across_the_nodes()
    {
        await using var b1 = await fixture.AttachAsync(B1);
        await using var b2 = await fixture.AttachAsync(B2);
        await b1.Nic.PingAsync(B2.MacAddress, B2.Address, NextSequence(), Deadline);

        var show = await fixture.Cluster.CliJsonAsync("net", "show", "blue");
        var ports = show["nodes"]!.AsArray().SelectMany(n => n!["ports"]!.AsArray().Select(p => ((string)n["node"]!, (string)p!["name"]!))).ToList();
        Assert.Contains(("n1", "b1-0"), ports);
        Assert.Contains(("n2", "b2-0"), ports);
        Assert.Equal(3, show["vm_nics"]!.AsArray().Count);

        var fdb = await fixture.Cluster.CliJsonAsync("net", "fdb", "blue");
        var entries = fdb["entries"]!.AsArray().Select(e => ((string)e!["seen_by"]!, (string)e["mac"]!, (string)e["port"]!, (string)e["node"]!)).ToList();
        Assert.Contains(("n1", B2.Mac, "", "n2"), entries);
        Assert.Contains(("n1", B1.Mac, "b1-0", "n1"), entries);
        Assert.Contains(("n2", B2.Mac, "b2-0", "n2"), entries);

        var trace = await fixture.Cluster.CliJsonAsync("net", "trace", "blue", "--from", "b1-0", "--dst-mac", B2.Mac, "--dst-ip", B2.Ip);
        var hops = trace["hops"]!.AsArray();
        Assert.Equal(2, hops.Count);
        Assert.Equal("n1", (string)hops[0]!["node"]!);
        Assert.Equal(["vxlan0 -> n2 (vni 101)"], hops[0]!["outputs"]!.AsArray().Select(o => (string)o!).ToArray());
        Assert.Equal("n2", (string)hops[1]!["node"]!);
        Assert.Equal(["b2-0"], hops[1]!["outputs"]!.AsArray().Select(o => (string)o!).ToArray());
        var denied = await fixture.Cluster.CliJsonAsync("net", "trace", "blue", "--from", "b1-0", "--dst-mac", B2.Mac, "--dst-ip", B2.Ip, "--protocol", "tcp", "--dst-port", "23");
        Assert.Equal("acl", (string)denied["hops"]!.AsArray()[1]!["drop_reason"]!);
        var text = await fixture.Cluster.CliAsync("net", "trace", "blue", "--from", "b1-0", "--dst-mac", "52:54:00:0b:00:99", "--src-mac", "52:54:00:0b:00:99");
        Assert.Contains("Final: n1: drop (spoofedmac)", text.Stdout);

        // A capture of b2's port while b1 pings it: the file holds the echo requests and replies.
        var pcap = Path.Combine(fixture.Cluster.Home, "blue.pcap");
        var capture = fixture.Cluster.CliAsync("net", "capture", "blue", "--port", "b2-0", "--out", pcap, "--count", "6", "--json");
        var stop = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!capture.IsCompleted && DateTime.UtcNow < stop)
        {
            await b1.Nic.PingAsync(B2.MacAddress, B2.Address, NextSequence(), Deadline);
            await Task.WhenAny(capture, Task.Delay(100));
        }
        var result = await capture;
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(6, (int)result.Json["frames"]!);
        var records = Fabric.Switch.Capture.PcapReader.TryRead(await File.ReadAllBytesAsync(pcap), out var error)?.Records
            ?? throw new Xunit.Sdk.XunitException($"the capture is not a pcap file: {error}");
        Assert.Equal(6, records.Count);
        foreach (var r in records)
        {
            Assert.True(FakeStreamNic.TryParse(r.Data, out var k, out _));
            Assert.Equal(IpProtocol.Icmp, k.IpProto);
            Assert.Contains(k.Source, new[] { B1.MacAddress, B2.MacAddress });
        }
        if (Prerequisite.InCi || Prerequisite.Which("tshark") is not null)
        {
            var decoded = await TsharkDecode.AssertMatchesCodecAsync(pcap);
            Assert.Equal(6, decoded.Count);
            Assert.All(decoded, row => Assert.Contains(row["ip.src"], new[] { B1.Ip, B2.Ip }));
        }
    }
}
