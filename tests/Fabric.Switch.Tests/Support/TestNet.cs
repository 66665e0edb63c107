// A datapath with memory ports, for pipeline tests: networks and ports by name, frames in, frames out.
using Fabric.Proto;
using Fabric.Switch.Datapath;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;

namespace Fabric.Switch.Tests.Support;

public sealed class TestNet
{
    public readonly ManualTimeProvider Time = new();
    public readonly SwitchDatapath Dp;
    public readonly Dictionary<string, MemoryPort> Ports = new();

    public TestNet(string uplink = "trunk0")
    {
        Dp = new SwitchDatapath(Time, uplink);
    }

    public static NetworkSpec Vxlan(int id, string name, uint vni, params uint[] floodNodes) =>
        new() { Id = id, Name = name, Kind = NetworkKind.Vxlan, Vni = vni, FloodNodes = floodNodes };

    public static NetworkSpec Vlan(int id, string name, ushort vlan) =>
        new() { Id = id, Name = name, Kind = NetworkKind.Vlan, Vlan = vlan };

    public TestNet Networks(params NetworkSpec[] specs)
    {
        Dp.SetNetworks(specs);
        return this;
    }

    public MemoryPort Vm(string name, string network, string mac, string? ip = null, bool active = true)
    {
        var p = new MemoryPort(name, PortKind.Vm)
        {
            Network = network,
            Mac = MacAddress.Parse(mac),
            Ipv4 = ip is null ? 0 : IpBits.ParseIpv4(ip),
        };
        p.Active = active;
        Ports[name] = p;
        Dp.AddPort(p);
        return p;
    }

    public MemoryPort Access(string name, string network)
    {
        var p = new MemoryPort(name, PortKind.Access) { Network = network };
        Ports[name] = p;
        Dp.AddPort(p);
        return p;
    }

    public MemoryPort Trunk(string name = "trunk0")
    {
        var p = new MemoryPort(name, PortKind.Trunk) { Network = name };
        Ports[name] = p;
        Dp.AddPort(p);
        return p;
    }

    public MemoryPort Tunnel(string name = "vxlan0")
    {
        var p = new MemoryPort(name, PortKind.Tunnel);
        Ports[name] = p;
        Dp.AddPort(p);
        return p;
    }

    public void Send(string port, byte[] frame, uint remoteNode = 0)
    {
        Dp.Process(Ports[port], frame.ToArray(), remoteNode);
        Dp.FlushPorts();
    }

    /// <summary>Sends a frame into the tunnel port as if node <paramref name="node"/> had encapsulated it with <paramref name="vni"/>.</summary>
    public void SendFromNode(uint node, uint vni, byte[] inner, string tunnel = "vxlan0")
    {
        var b = new byte[inner.Length + VxlanHeader.Length];
        VxlanHeader.Write(b, vni);
        inner.CopyTo(b, VxlanHeader.Length);
        Send(tunnel, b, node);
    }

    public void ClearReceived()
    {
        foreach (var p in Ports.Values) p.Received.Clear();
    }

    public static byte[] Build(Func<byte[], int> build)
    {
        var b = new byte[2000];
        return b[..build(b)];
    }

    public static AclRule Acl(string action, string direction, string protocol, string cidr = "", uint portMin = 0, uint portMax = 0, int priority = 0) =>
        new() { Action = action, Direction = direction, Protocol = protocol, Cidr = cidr, PortMin = portMin, PortMax = portMax, Priority = priority };
}
