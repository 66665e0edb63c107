// `dotnet Fabric.Bench.dll switch-nodes ...`: the switch inside real node daemons (Fabric.Node.dll
// processes joined into a cluster), for bench/net-compare.sh and the MAC-move timing.
//
//   switch-nodes --node n1=172.31.0.1@pcA --node n2=172.31.0.2@pcB --port n1=pc1-h --port n2=pc2-h
//       two nodes, each in a network namespace (ip netns exec), one VXLAN network "bench" (VNI 5000,
//       MTU 1450); each IF attached to its node's switch as an AF_PACKET access port. Prints "ready"
//       when forwarding, runs until SIGINT/SIGTERM, prints each node's port counters.
//   switch-nodes --node n1=127.0.90.1 --node n2=127.0.90.2 --move-trials 30
//       a VM MAC moved from n1 to n2 (stream ports played by this program, as QEMU's -netdev stream):
//       time from the moved VM's first announce (RARP) to the first echo reply it sends to a VM on n1,
//       which pings it every millisecond. Then exits.
//   --home DIR (default /tmp/fabric-switch-nodes), --vni N, --nice N (the node processes' nice value),
//   --no-offloads (access ports without a virtio-net header).
//
// The network's replication list comes from the map's VMs: one placeholder VM per node puts every node
// on it (the namespaces' own MACs are learned from traffic, as behind any access port). The process must
// reach every node's address (run it in the first node's namespace).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Fabric.Config.Loading;
using Fabric.Config.Plan;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Switch.Packets;

namespace Fabric.Bench.Switch;

public static class SwitchNodes
{
    private sealed record NodeArg(string Name, string Address, string? Netns);

    private static readonly RpcMethod<AttachPortRequest, AttachPortReply> AttachPort = Method<AttachPortRequest, AttachPortReply>("AttachPort");
    private static readonly RpcMethod<DetachPortRequest, DetachPortReply> DetachPort = Method<DetachPortRequest, DetachPortReply>("DetachPort");
    private static readonly RpcMethod<ActivatePortRequest, ActivatePortReply> ActivatePort = Method<ActivatePortRequest, ActivatePortReply>("ActivatePort");
    private static readonly RpcMethod<ListNetworksRequest, ListNetworksReply> ListNetworks = Method<ListNetworksRequest, ListNetworksReply>("ListNetworks");
    private static readonly RpcMethod<PortStatsRequest, PortStatsReply> PortStats = Method<PortStatsRequest, PortStatsReply>("PortStats");

    private static readonly MacAddress ObserverMac = MacAddress.Parse("02:fa:b0:00:01:01"), MoverMac = MacAddress.Parse("02:fa:b0:00:01:02");
    private static readonly uint ObserverIp = IpBits.ParseIpv4("10.77.0.250"), MoverIp = IpBits.ParseIpv4("10.77.0.251");

    public static async Task<int> RunAsync(string[] args)
    {
        var nodes = new List<NodeArg>();
        var ports = new List<(string Node, string Interface)>();
        string home = "/tmp/fabric-switch-nodes";
        uint vni = 5000;
        int? nice = null;
        int moveTrials = 0;
        bool offloads = true;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--node":
                    var n = Next();
                    var (name, rest) = Split(n, '=');
                    if (rest.Contains('@'))
                    {
                        var (address, netns) = Split(rest, '@');
                        nodes.Add(new NodeArg(name, address, netns));
                    }
                    else
                    {
                        nodes.Add(new NodeArg(name, rest, null));
                    }
                    break;
                case "--port": ports.Add(Split(Next(), '=')); break;
                case "--home": home = Next(); break;
                case "--vni": vni = uint.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--nice": nice = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--move-trials": moveTrials = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--no-offloads": offloads = false; break;
                default: return Usage($"unknown option {args[i]}");
            }
        }
        if (nodes.Count < 2) return Usage("at least two --node NAME=ADDRESS[@NETNS] are needed");
        if (ports.Count == 0 && moveTrials == 0) return Usage("give --port NODE=IF (forwarding) or --move-trials N");

        if (Directory.Exists(home)) Directory.Delete(home, recursive: true);
        Directory.CreateDirectory(Path.Combine(home, "log"));
        var config = Path.Combine(home, "cluster.toml");
        await File.WriteAllTextAsync(config, ConfigText(nodes, vni, moveTrials > 0));
        var processes = new List<Process>();
        var channels = nodes.ToDictionary(n => n.Name, n => new RpcChannel($"{n.Address}:7000"));
        try
        {
            foreach (var node in nodes) processes.Add(StartNode(node, config, home, nice));
            using var monitors = new MonitorClient([$"{nodes[0].Address}:7000"], TimeSpan.FromSeconds(5));
            var map = await WaitAsync(async () => await monitors.GetLatestMapAsync(CancellationToken.None),
                m => m.Nodes.Count(x => x.State == NodeState.Up) == nodes.Count, TimeSpan.FromSeconds(120), "the nodes to join", processes, home);

            var plan = ConfigPlanner.Plan(ClusterConfigLoader.Load(config).GetConfigOrThrow(), map, new PlanScope { Kinds = PlanKinds.Networks | PlanKinds.Vms });
            if (plan.HasErrors) throw new InvalidOperationException(string.Join("; ", plan.Errors));
            ulong epoch = (await monitors.ProposeAsync(plan.ToTransaction(Guid.NewGuid().ToString("N"), "switch-nodes bench"), CancellationToken.None)).Epoch;
            foreach (var node in nodes)
            {
                await WaitAsync(() => channels[node.Name].UnaryAsync(ListNetworks, new ListNetworksRequest(), Timeout()),
                    r => r.MapEpoch >= epoch, TimeSpan.FromSeconds(30), $"{node.Name}'s switch to apply epoch {epoch}", processes, home);
            }
            foreach (var (node, ifname) in ports)
            {
                await channels[node].UnaryAsync(AttachPort, new AttachPortRequest
                {
                    Port = ifname, Network = "bench", Kind = "interface", Interface = ifname, NoOffloads = !offloads,
                }, Timeout());
            }

            if (moveTrials > 0) await MoveTrialsAsync(nodes, channels, home, moveTrials);
            if (ports.Count > 0)
            {
                using var stop = new ManualResetEventSlim();
                using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
                Console.WriteLine("ready");
                Console.Out.Flush();
                stop.Wait();
                foreach (var node in nodes)
                {
                    var stats = await channels[node.Name].UnaryAsync(PortStats, new PortStatsRequest(), Timeout());
                    foreach (var p in stats.Ports)
                    {
                        Console.WriteLine($"{node.Name} {p.Name,-10} rx {p.RxPackets,12} pkts {p.RxBytes,15} B  tx {p.TxPackets,12} pkts {p.TxBytes,15} B  drop {p.DropPackets,10}"
                            + (p.Drops.Count > 0 ? "  (" + string.Join(", ", p.Drops.Select(d => $"{d.Reason} {d.Packets}")) + ")" : ""));
                    }
                    Console.WriteLine($"{node.Name} flow cache hits {stats.CacheHits}, misses {stats.CacheMisses}");
                }
            }
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"switch-nodes: {e.Message}");
            return 1;
        }
        finally
        {
            foreach (var channel in channels.Values) channel.Dispose();
            foreach (var p in processes) Stop(p);
        }
    }

    private static CallOptions Timeout() => CallOptions.WithTimeout(TimeSpan.FromSeconds(10));

    /// <summary>
    /// VM "mv" moves from the first node to the second and back, <paramref name="trials"/> times; VM "obs"
    /// on the first node pings it every millisecond. Measured: the moved VM's announce to the first echo
    /// reply from its new place.
    /// </summary>
    private static async Task MoveTrialsAsync(List<NodeArg> nodes, Dictionary<string, RpcChannel> channels, string home, int trials)
    {
        string a = nodes[0].Name, b = nodes[1].Name;
        using var observer = Attach(channels[a], "obs-0", Path.Combine(home, "obs.sock"), ObserverMac, ObserverIp, active: true);
        var mover = Attach(channels[a], "mv-0", Path.Combine(home, "mv-a.sock"), MoverMac, MoverIp, active: true);
        string at = a;
        int sequence = 0;
        var samples = new List<double>();
        var rtts = new List<double>();
        try
        {
            // Echo requests every millisecond until one sent after t0 comes back; the time is that reply's arrival.
            double Reach(BenchStreamNic nic, bool announce, TimeSpan limit)
            {
                if (sequence > 60000) sequence = 0;
                int first = sequence + 1;
                long t0 = Stopwatch.GetTimestamp();
                if (announce) nic.Announce();
                while (Stopwatch.GetElapsedTime(t0) < limit)
                {
                    observer.SendEcho(MoverMac, MoverIp, (ushort)++sequence);
                    long sent = Stopwatch.GetTimestamp();
                    do
                    {
                        var (s, when) = observer.LastReply;
                        if (s >= first && s <= sequence) return Stopwatch.GetElapsedTime(t0, when).TotalMilliseconds;
                        Thread.Yield();
                    }
                    while (Stopwatch.GetElapsedTime(sent).TotalMilliseconds < 1);
                }
                throw new TimeoutException($"mv was not reachable within {limit.TotalSeconds} s");
            }

            Reach(mover, false, TimeSpan.FromSeconds(10));
            for (int trial = 0; trial < trials * 2; trial++)
            {
                string to = at == a ? b : a;
                var next = Attach(channels[to], "mv-0", Path.Combine(home, $"mv-{trial}.sock"), MoverMac, MoverIp, active: false);
                await channels[to].UnaryAsync(ActivatePort, new ActivatePortRequest { Port = "mv-0" }, Timeout());
                await channels[at].UnaryAsync(DetachPort, new DetachPortRequest { Port = "mv-0" }, Timeout());
                mover.Dispose();
                mover = next;
                at = to;
                double ms = Reach(mover, announce: true, TimeSpan.FromSeconds(10));
                if (at == b)
                {
                    samples.Add(ms);
                    // The steady round trip to the same place, for comparison.
                    rtts.Add(Reach(mover, false, TimeSpan.FromSeconds(10)));
                }
            }
        }
        finally
        {
            mover.Dispose();
        }
        samples.Sort();
        rtts.Sort();
        static double P(List<double> s, double q) => s[Math.Min(s.Count - 1, (int)(q * s.Count))];
        Console.WriteLine($"mac-move {a}->{b}: {samples.Count} trials; announce -> first echo reply from the new node: " +
            $"p50 {P(samples, 0.5):F2} ms, p90 {P(samples, 0.9):F2} ms, max {samples[^1]:F2} ms; steady echo round trip p50 {P(rtts, 0.5):F2} ms");
    }

    private static BenchStreamNic Attach(RpcChannel node, string port, string socket, MacAddress mac, uint ip, bool active)
    {
        var nic = new BenchStreamNic(socket, mac, ip);
        node.UnaryAsync(AttachPort, new AttachPortRequest
        {
            Port = port, Network = "bench", Kind = "stream", SocketPath = socket, Mac = mac.ToString(), Ip = IpBits.FormatIpv4(ip) + "/24", Inactive = !active,
        }, Timeout()).GetAwaiter().GetResult();
        if (!nic.WaitConnected(TimeSpan.FromSeconds(10))) throw new TimeoutException($"the switch did not connect to {socket}");
        return nic;
    }

    private static string ConfigText(List<NodeArg> nodes, uint vni, bool mover)
    {
        var text = new StringBuilder();
        text.AppendLine($"""
            [cluster]
            name = "switchnodes"
            monitors = ["{nodes[0].Name}"]
            heartbeat_interval = "500ms"
            heartbeat_grace = "5s"
            down_out_interval = "60s"
            """);
        foreach (var n in nodes)
        {
            text.AppendLine($"""

                [[node]]
                name = "{n.Name}"
                grpc = "{n.Address}:7000"
                data = "{n.Address}"
                failure_domain = "{n.Name}"
                capacity = "1GiB"
                vm_memory = "1GiB"
                vm_cpus = 1
                """);
        }
        text.AppendLine($"""

            [[network]]
            name = "bench"
            kind = "vxlan"
            vni = {vni}
            subnet = "10.77.0.0/24"
            mtu = 1450
            """);
        for (int i = 0; i < nodes.Count; i++) text.Append(Vm($"peer-{nodes[i].Name}", nodes[i].Name, $"02:fa:b0:00:00:{i + 1:x2}", $"10.77.0.{200 + i}"));
        if (mover)
        {
            text.Append(Vm("obs", nodes[0].Name, ObserverMac.ToString(), IpBits.FormatIpv4(ObserverIp)));
            text.Append(Vm("mv", nodes[0].Name, MoverMac.ToString(), IpBits.FormatIpv4(MoverIp)));
        }
        return text.ToString();
    }

    /// <summary>A VM that only exists in the map (never started).</summary>
    private static string Vm(string name, string node, string mac, string ip) => $"""

        [[vm]]
        name = "{name}"
        node = "{node}"
        memory = "64MiB"
        kernel = "/nonexistent/never-booted"

          [[vm.nic]]
          network = "bench"
          mac = "{mac}"
          ip = "{ip}/24"

        """;

    private static Process StartNode(NodeArg node, string config, string home, int? nice)
    {
        var nodeDll = Environment.GetEnvironmentVariable("FABRIC_NODE_DLL") is { Length: > 0 } env ? env
            : Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "Fabric.Node", Path.GetFileName(AppContext.BaseDirectory.TrimEnd('/')), "Fabric.Node.dll"));
        if (!File.Exists(nodeDll)) throw new FileNotFoundException($"the node daemon is not built: {nodeDll} (dotnet build node/Fabric.Node -c Release)");
        var command = new List<string>();
        if (node.Netns is not null) command.AddRange(["ip", "netns", "exec", node.Netns]);
        if (nice is int n) command.AddRange(["nice", "-n", n.ToString(CultureInfo.InvariantCulture)]);
        command.AddRange(["dotnet", nodeDll, "run", "--config", config, "--name", node.Name, "--home", home, "--log-format", "text"]);
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Skip(1)) start.ArgumentList.Add(a);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start node {node.Name}");
        var log = new StreamWriter(Path.Combine(home, "log", node.Name + ".log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    private static void Stop(Process process)
    {
        try
        {
            if (process.HasExited) return;
            kill(process.Id, 15); // SIGTERM: the node leaves cleanly
            if (!process.WaitForExit(15_000)) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        finally
        {
            process.Dispose();
        }
    }

    private static async Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what, List<Process> processes, string home)
    {
        var deadline = DateTime.UtcNow + timeout;
        string last = "";
        while (true)
        {
            if (processes.FirstOrDefault(p => p.HasExited) is { } dead)
                throw new InvalidOperationException($"a node exited ({dead.ExitCode}) while waiting for {what}; logs in {home}/log");
            try
            {
                var value = await probe();
                if (done(value)) return value;
                last = value?.ToString() ?? "";
            }
            catch (Exception e)
            {
                last = e.Message;
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what} (last: {last}); logs in {home}/log");
            await Task.Delay(200);
        }
    }

    private static (string, string) Split(string text, char separator)
    {
        int i = text.IndexOf(separator);
        if (i <= 0) throw new ArgumentException($"'{text}': expected A{separator}B");
        return (text[..i], text[(i + 1)..]);
    }

    private static RpcMethod<TRequest, TResponse> Method<TRequest, TResponse>(string name)
        where TRequest : class, Google.Protobuf.IMessage<TRequest>, new()
        where TResponse : class, Google.Protobuf.IMessage<TResponse>, new() =>
        RpcMethod.From<TRequest, TResponse>(SwitchReflection.Descriptor, "fabric.SwitchAdmin", name);

    private static int Usage(string error)
    {
        Console.Error.WriteLine($"switch-nodes: {error}");
        Console.Error.WriteLine("usage: switch-nodes --node NAME=ADDRESS[@NETNS] --node ... (--port NODE=IF ... | --move-trials N) [--home DIR] [--vni N] [--nice N] [--no-offloads]");
        return 2;
    }
}
