// A TAP port in a network namespace, with the namespace's kernel on the other side: a VM (FakeVm on a
// stream port) resolves and pings the kernel's address on the TAP, and the kernel answers. Exercises
// TAP I/O with the virtio-net header in both directions. Needs root.
using Fabric.Core.Net;
using Fabric.Proto;
using Fabric.Switch.Control;
using Fabric.Switch.Packets;
using Fabric.Switch.Tests.Support;

namespace Fabric.Switch.Tests.Namespaces;

public sealed class TapPortTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [MachineFact(Needs.Root | Needs.Iproute)]
    public async Task A_vm_pings_the_host_through_a_tap_port()
    {
        string id = NetNs.UniqueSuffix();
        string dir = Path.Combine("/tmp", $"fst-{id}");
        Directory.CreateDirectory(dir);
        using var ns = new NetNs($"fst-{id}");
        var map = new ClusterMap { Epoch = 1 };
        map.Nodes.Add(TestCluster.Node(1, "n1", ""));
        map.Networks.Add(TestCluster.Vlan(1, "lan", 100));
        map.Vms.Add(TestCluster.Vm(1, "vm1", 1, ("lan", "52:54:00:14:00:01", "10.20.0.11/24")));
        await using var sw = new VirtualSwitch(new SwitchOptions { NodeName = "n1", NetworkNamespace = ns.Path });
        await sw.StartAsync();
        await sw.ApplyMapAsync(map, 1);
        var tap = await sw.AttachTapAsync("host0", "fabtap0", "lan");
        Assert.True(tap.Ok, tap.Error);
        ns.Run("ip", "addr", "add", "10.20.0.1/24", "dev", "fabtap0");
        var vm = new FakeVm("vm1", Path.Combine(dir, "vm1.sock"), MacAddress.Parse("52:54:00:14:00:01"), IpBits.ParseIpv4("10.20.0.11"));
        try
        {
            var r = await sw.AttachStreamPortAsync(new VmPortSpec("vm1-0", "lan", "52:54:00:14:00:01", "10.20.0.11/24"), vm.SocketPath, true, default);
            Assert.True(r.Ok, r.Error);
            await vm.WaitConnectedAsync(Timeout);
            // 10.20.0.1 is no VM: the ARP floods to the TAP and the namespace's kernel answers it.
            var hostMac = await vm.PingAsync(IpBits.ParseIpv4("10.20.0.1"), 1, Timeout);
            await vm.PingMacAsync(hostMac, IpBits.ParseIpv4("10.20.0.1"), 2, Timeout);
            // The kernel's replies arrive with valid checksums after the datapath's offload handling.
            foreach (var f in vm.Received)
            {
                Assert.Equal(FrameError.None, FrameParser.Parse(f.ToArray(), 0, out var k, out var l));
                if (k.EthType == EtherType.Ipv4)
                {
                    Assert.Equal(FrameError.None, Ipv4Packet.TryParse(f.AsSpan(l.L3Offset).ToArray(), out var ip));
                    Assert.True(ip.IsHeaderChecksumValid);
                    if (k.IpProto == IpProtocol.Icmp) Assert.Equal(0, InternetChecksum.Compute(ip.Payload));
                }
            }
            var host = sw.GetStats().Ports.Single(p => p.Name == "host0");
            Assert.True(host.RxPackets >= 3 && host.TxPackets >= 3, $"tap rx {host.RxPackets} tx {host.TxPackets}");
        }
        finally
        {
            await vm.DisposeAsync();
            try { Directory.Delete(dir, true); } catch { }
        }
    }
}
