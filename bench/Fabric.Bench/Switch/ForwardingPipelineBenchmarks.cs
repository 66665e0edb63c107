// The forwarding pipeline alone (no sockets): frames through SwitchDatapath.Process into memory ports
// that only count. Reports time per frame (Mpps per core = 1000 / ns per frame) and allocations, which
// must be 0 on the cached path. Run: dotnet artifacts/bin/Fabric.Bench/release/Fabric.Bench.dll --filter '*ForwardingPipeline*'
using BenchmarkDotNet.Attributes;
using Fabric.Switch.Datapath;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;

namespace Fabric.Bench.Switch;

[MemoryDiagnoser]
public class ForwardingPipelineBenchmarks
{
    private const int Frames = 1024;
    private SwitchDatapath _dp = null!;
    private MemoryPort _vm1 = null!, _vm2 = null!, _tunnel = null!, _trunk = null!;
    private byte[][] _l2 = null!, _toTunnel = null!, _fromTunnel = null!, _fromTrunk = null!;
    private byte[][] _scratch = null!;

    [Params(64, 1500)]
    public int FrameSize;

    [GlobalSetup]
    public void Setup()
    {
        _dp = new SwitchDatapath(TimeProvider.System, "trunk0");
        _dp.SetNetworks([
            new NetworkSpec { Id = 1, Name = "overlay", Kind = NetworkKind.Vxlan, Vni = 5001, FloodNodes = [2] },
            new NetworkSpec { Id = 2, Name = "lan", Kind = NetworkKind.Vlan, Vlan = 100 },
        ]);
        var m1 = MacAddress.Parse("52:54:00:00:00:01");
        var m2 = MacAddress.Parse("52:54:00:00:00:02");
        var m3 = MacAddress.Parse("52:54:00:00:00:03");
        var m4 = MacAddress.Parse("52:54:00:00:00:04");
        uint ip1 = 0x0A0A000B, ip2 = 0x0A0A000C, ip3 = 0x0A0A000D;
        _vm1 = new MemoryPort("vm1", PortKind.Vm, record: false) { Network = "overlay", Mac = m1, Ipv4 = ip1 };
        _vm2 = new MemoryPort("vm2", PortKind.Vm, record: false) { Network = "overlay", Mac = m2, Ipv4 = ip2 };
        var vm4 = new MemoryPort("vm4", PortKind.Vm, record: false) { Network = "lan", Mac = m4, Ipv4 = 0x0A14000E };
        _tunnel = new MemoryPort("vxlan0", PortKind.Tunnel, record: false);
        _trunk = new MemoryPort("trunk0", PortKind.Trunk, record: false) { Network = "trunk0" };
        foreach (var p in new[] { _vm1, _vm2, vm4, _tunnel, _trunk }) _dp.AddPort(p);
        _dp.SetRemoteMacs(new Dictionary<(int, ulong), uint> { [(1, m3.Value)] = 2 });
        int payload = Math.Max(0, FrameSize - 14 - 20 - 8);
        byte[] Udp(MacAddress dst, MacAddress src, uint s, uint d, ushort? vlan = null)
        {
            var b = new byte[FrameSize + 64];
            return b[..PacketBuilder.Udp(b, dst, src, s, d, 5000, 5001, new byte[payload], vlan)];
        }
        byte[] Vx(byte[] inner)
        {
            var b = new byte[inner.Length + 8];
            VxlanHeader.Write(b, 5001);
            inner.CopyTo(b, 8);
            return b;
        }
        _l2 = Enumerable.Range(0, Frames).Select(_ => Udp(m2, m1, ip1, ip2)).ToArray();
        _toTunnel = Enumerable.Range(0, Frames).Select(_ => Udp(m3, m1, ip1, ip3)).ToArray();
        _fromTunnel = Enumerable.Range(0, Frames).Select(_ => Vx(Udp(m1, m3, ip3, ip1))).ToArray();
        _fromTrunk = Enumerable.Range(0, Frames).Select(_ => Udp(m4, MacAddress.Parse("02:00:00:00:00:09"), 0x0A140001, 0x0A14000E, 100)).ToArray();
        _scratch = _fromTrunk.Select(f => (byte[])f.Clone()).ToArray();
        // Warm the cache and the MAC tables.
        L2Unicast();
        VxlanEncap();
        VxlanDecap();
        VlanPop();
    }

    [Benchmark(OperationsPerInvoke = Frames, Description = "VM -> VM (same node)")]
    public void L2Unicast()
    {
        for (int i = 0; i < Frames; i++) _dp.Process(_vm1, _l2[i]);
        _dp.FlushPorts();
    }

    [Benchmark(OperationsPerInvoke = Frames, Description = "VM -> VXLAN (encap)")]
    public void VxlanEncap()
    {
        for (int i = 0; i < Frames; i++) _dp.Process(_vm1, _toTunnel[i]);
        _dp.FlushPorts();
    }

    [Benchmark(OperationsPerInvoke = Frames, Description = "VXLAN -> VM (decap)")]
    public void VxlanDecap()
    {
        for (int i = 0; i < Frames; i++) _dp.Process(_tunnel, _fromTunnel[i], 2);
        _dp.FlushPorts();
    }

    [Benchmark(OperationsPerInvoke = Frames, Description = "trunk (tagged) -> VM (pop VLAN)")]
    public void VlanPop()
    {
        // Pop rewrites the frame in place: work on a copy refreshed each round (the copy is part of the cost).
        for (int i = 0; i < Frames; i++)
        {
            _fromTrunk[i].CopyTo(_scratch[i], 0);
            _dp.Process(_trunk, _scratch[i]);
        }
        _dp.FlushPorts();
    }
}
