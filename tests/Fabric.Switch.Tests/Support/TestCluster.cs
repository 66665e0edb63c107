// Builds cluster maps for switch tests and picks loopback addresses and a UDP port that are free.
using System.Net;
using System.Net.Sockets;
using Fabric.Proto;

namespace Fabric.Switch.Tests.Support;

public static class TestCluster
{
    private static int _next = Random.Shared.Next(1, 200);

    /// <summary>Distinct 127.x.y.z addresses (all answer on Linux) so that parallel tests never collide.</summary>
    public static string[] LoopbackAddresses(int count)
    {
        int b = Interlocked.Add(ref _next, 1) % 250 + 1;
        int c = Random.Shared.Next(1, 250);
        return Enumerable.Range(1, count).Select(i => $"127.{b}.{c}.{i}").ToArray();
    }

    /// <summary>A UDP port free on every one of <paramref name="addresses"/>.</summary>
    public static ushort FreeUdpPort(params string[] addresses)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            probe.Bind(new IPEndPoint(IPAddress.Parse(addresses[0]), 0));
            int port = ((IPEndPoint)probe.LocalEndPoint!).Port;
            bool ok = true;
            foreach (var a in addresses.Skip(1))
            {
                try
                {
                    using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    s.Bind(new IPEndPoint(IPAddress.Parse(a), port));
                }
                catch (SocketException)
                {
                    ok = false;
                    break;
                }
            }
            if (ok) return (ushort)port;
        }
        throw new InvalidOperationException("no free UDP port");
    }

    public static NodeInfo Node(uint id, string name, string dataAddress) =>
        new() { Id = id, Name = name, DataAddress = dataAddress, State = NodeState.Up, In = true };

    public static NetworkInfo Vxlan(uint id, string name, uint vni, string subnet = "10.10.0.0/24") =>
        new() { Id = id, Name = name, Kind = "vxlan", Vni = vni, Subnet = subnet, Mtu = 1450 };

    public static NetworkInfo Vlan(uint id, string name, uint vlan, string uplink = "", string subnet = "10.20.0.0/24") =>
        new() { Id = id, Name = name, Kind = "vlan", Vlan = vlan, Subnet = subnet, Mtu = 1500, Uplink = uplink };

    public static VmInfo Vm(ulong id, string name, uint node, params (string Network, string Mac, string Ip)[] nics)
    {
        var spec = new VmSpec { Name = name, Vcpus = 1, MemoryBytes = 256 << 20 };
        foreach (var (net, mac, ip) in nics) spec.Nics.Add(new VmNic { Network = net, Mac = mac, Ip = ip, Port = $"{name}-0" });
        return new VmInfo { Id = id, Spec = spec, NodeId = node, State = VmState.Running, WantRunning = true };
    }
}
