// `dotnet Fabric.Bench.dll switch-host MODE ...`: runs one switch without the node daemon, for the peer
// comparisons in bench/net-compare.sh.
//
//   switch-host bridge --port IF [--port IF ...]
//       one network, every IF an AF_PACKET access port (the host ends of namespaces' veths)
//   switch-host vxlan --local IP --remote IP --port IF [--vni N] [--udp-port P]
//       node 1 (local) and node 2 (remote) of a VXLAN network; IF is this node's access port
//   --no-offloads: access ports without a virtio-net header (interfaces must have offloads off)
//   --nice N: nice value of the datapath thread (kernel datapaths run in softirq, ahead of all threads)
//
// Runs until SIGINT/SIGTERM, then prints the port counters. Prints "ready" on stdout once forwarding.
using System.Runtime.InteropServices;
using Fabric.Proto;
using Fabric.Switch.Control;

namespace Fabric.Bench.Switch;

public static class SwitchHost
{
    public static int Run(string[] args)
    {
        if (args.Length == 0) return Usage("a mode is required");
        string mode = args[0];
        var ports = new List<string>();
        string local = "", remote = "";
        uint vni = 5000;
        ushort udpPort = 4789;
        bool offloads = true;
        int? nice = null;
        for (int i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--port": ports.Add(Next()); break;
                case "--local": local = Next(); break;
                case "--remote": remote = Next(); break;
                case "--vni": vni = uint.Parse(Next()); break;
                case "--udp-port": udpPort = ushort.Parse(Next()); break;
                case "--no-offloads": offloads = false; break;
                case "--nice": nice = int.Parse(Next()); break;
                default: return Usage($"unknown option {args[i]}");
            }
        }
        if (ports.Count == 0) return Usage("at least one --port is required");
        var map = new ClusterMap { Epoch = 1, ClusterName = "bench" };
        switch (mode)
        {
            case "bridge":
                map.Nodes.Add(new NodeInfo { Id = 1, Name = "local" });
                map.Networks.Add(new NetworkInfo { Id = 1, Name = "bench", Kind = "vlan", Vlan = 10, Mtu = 1500 });
                break;
            case "vxlan":
                if (local.Length == 0 || remote.Length == 0) return Usage("vxlan needs --local and --remote");
                map.Nodes.Add(new NodeInfo { Id = 1, Name = "local", DataAddress = local });
                map.Nodes.Add(new NodeInfo { Id = 2, Name = "remote", DataAddress = remote });
                map.Networks.Add(new NetworkInfo { Id = 1, Name = "bench", Kind = "vxlan", Vni = vni, Mtu = 1450 });
                // A placeholder VM on the remote node puts it on the network's replication list; the real
                // endpoints' MACs are learned from traffic.
                var spec = new VmSpec { Name = "peer" };
                spec.Nics.Add(new VmNic { Network = "bench", Mac = "02:00:00:ff:ff:02" });
                map.Vms.Add(new VmInfo { Id = 1, Spec = spec, NodeId = 2 });
                break;
            default:
                return Usage($"unknown mode '{mode}'");
        }
        var sw = new VirtualSwitch(new SwitchOptions { NodeName = "bench-" + mode, VxlanPort = udpPort, DatapathNice = nice });
        sw.StartAsync().GetAwaiter().GetResult();
        sw.ApplyMap(map, 1);
        foreach (var p in sw.Problems) Console.Error.WriteLine($"problem: {p}");
        foreach (var ifname in ports)
        {
            var r = sw.AttachHostInterfaceAsync(ifname, ifname, "bench", offloads).AsTask().GetAwaiter().GetResult();
            if (!r.Ok)
            {
                Console.Error.WriteLine($"switch-host: {r.Error}");
                return 1;
            }
        }
        using var stop = new ManualResetEventSlim();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
        Console.WriteLine("ready");
        Console.Out.Flush();
        stop.Wait();
        var stats = sw.GetStats();
        foreach (var p in stats.Ports)
        {
            Console.WriteLine($"{p.Name,-10} {p.Description}");
            Console.WriteLine($"{p.Name,-10} rx {p.RxPackets,12} pkts {p.RxBytes,15} B  tx {p.TxPackets,12} pkts {p.TxBytes,15} B  drop {p.DropPackets,10}"
                + (p.Drops.Count > 0 ? "  (" + string.Join(", ", p.Drops.Select(d => $"{d.Key.ToString().ToLowerInvariant()} {d.Value}")) + ")" : ""));
        }
        Console.WriteLine($"frames {stats.FramesProcessed}, flow cache hits {stats.CacheHits}, misses {stats.CacheMisses}");
        sw.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }

    private static int Usage(string error)
    {
        Console.Error.WriteLine($"switch-host: {error}");
        Console.Error.WriteLine("usage: switch-host bridge --port IF [--port IF ...]");
        Console.Error.WriteLine("       switch-host vxlan --local IP --remote IP --port IF [--vni N] [--udp-port P]");
        return 2;
    }
}
