using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Fabric.IntegrationTests.Support;
using Fabric.Membership.Client;
using Fabric.Proto;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>
/// Two real nodes, each in a network namespace of its own, joined by one veth pair: the way two
/// machines with one NIC each are joined by a wire.
/// </summary>
/// <remarks>
/// <code>
///   netns A                                   netns B
///   node n1 (monitor)                          node n2
///   grpc/data 10.250.0.1 ── veth (same name both sides) ── grpc/data 10.250.0.2
///   VLAN networks: the veth is each node's uplink (802.1Q-tagged frames, AF_PACKET)
///   VXLAN networks: UDP/4789 between 10.250.0.1 and 10.250.0.2
/// </code>
/// Control and data plane share the veth, as they would share a machine's NIC. The CLI runs inside
/// namespace A (`ip netns exec A dotnet fabric.dll ...`); the test process itself reaches the nodes'
/// gRPC through <see cref="NetnsForwarder"/>s. Dispose kills the node processes and deletes both
/// namespaces (which deletes the veth). Needs root.
/// </remarks>
public sealed class NamespaceCluster : IAsyncDisposable
{
    private readonly List<Process> _nodes = [];
    private readonly Dictionary<(int Node, int Port), NetnsForwarder> _forwarders = [];
    private readonly Dictionary<string, SwitchAdmin> _admins = new(StringComparer.Ordinal);
    private readonly List<string> _namespaces = [];

    private NamespaceCluster(string suffix, string home)
    {
        Suffix = suffix;
        Home = home;
        Namespaces = [$"fabnw-{suffix}-a", $"fabnw-{suffix}-b"];
        Veth = $"fw{suffix}";
        ConfigPath = Path.Combine(home, "cluster.toml");
    }

    public string Suffix { get; }

    public string Home { get; }

    public IReadOnlyList<string> Namespaces { get; }

    /// <summary>The veth's name, the same in both namespaces; each node's uplink.</summary>
    public string Veth { get; }

    public string ConfigPath { get; }

    public static readonly string[] NodeNames = ["n1", "n2"];

    public static string Address(int node) => $"10.250.0.{node + 1}";

    /// <summary>Creates the namespaces, the veth and the config (nodes plus <paramref name="extraToml"/>).</summary>
    public static NamespaceCluster Create(string extraToml)
    {
        var suffix = Guid.NewGuid().ToString("N")[..6];
        var home = Path.Combine(Path.GetTempPath(), "fabric-ns-" + suffix);
        Directory.CreateDirectory(home);
        var cluster = new NamespaceCluster(suffix, home);
        try
        {
            foreach (var ns in cluster.Namespaces)
            {
                Run("ip", "netns", "add", ns);
                cluster._namespaces.Add(ns);
                Run("ip", "-n", ns, "link", "set", "lo", "up");
            }
            Run("ip", "link", "add", cluster.Veth, "netns", cluster.Namespaces[0], "type", "veth", "peer", "name", cluster.Veth, "netns", cluster.Namespaces[1]);
            for (int i = 0; i < 2; i++)
            {
                Run("ip", "-n", cluster.Namespaces[i], "addr", "add", Address(i) + "/24", "dev", cluster.Veth);
                Run("ip", "-n", cluster.Namespaces[i], "link", "set", cluster.Veth, "up");
            }
            var text = new StringBuilder();
            text.AppendLine(CultureInfo.InvariantCulture, $"""
                [cluster]
                name = "ns{suffix}"
                monitors = ["n1"]
                heartbeat_interval = "500ms"
                heartbeat_grace = "3s"
                down_out_interval = "60s"
                """);
            for (int i = 0; i < 2; i++)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"""

                    [[node]]
                    name = "{NodeNames[i]}"
                    grpc = "{Address(i)}:7000"
                    data = "{Address(i)}"
                    metrics = "{Address(i)}:9100"
                    failure_domain = "rack1/{NodeNames[i]}"
                    capacity = "4GiB"
                    vm_memory = "1GiB"
                    vm_cpus = 2
                    uplink = "{cluster.Veth}"
                    """);
            }
            text.AppendLine(extraToml);
            File.WriteAllText(cluster.ConfigPath, text.ToString());
        }
        catch
        {
            cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        return cluster;
    }

    /// <summary>Starts `Fabric.Node.dll run` inside each namespace and waits until both nodes joined.</summary>
    public async Task StartAsync()
    {
        Directory.CreateDirectory(Path.Combine(Home, "log"));
        for (int i = 0; i < 2; i++)
        {
            var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "netns", "exec", Namespaces[i], "dotnet", Repo.NodeDll, "run", "--config", ConfigPath, "--name", NodeNames[i], "--home", Home, "--log-format", "text" })
                start.ArgumentList.Add(a);
            var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a node");
            _nodes.Add(process);
            var log = new StreamWriter(Path.Combine(Home, "log", NodeNames[i] + ".log")) { AutoFlush = true };
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }
        using var monitors = Monitors();
        await Wait.UntilAsync(async () =>
        {
            if (_nodes.FirstOrDefault(p => p.HasExited) is { } dead) throw new InvalidOperationException($"a node exited ({dead.ExitCode}): {Logs()}");
            return await monitors.GetLatestMapAsync(CancellationToken.None);
        }, map => map.Nodes.Count(n => n.State == NodeState.Up) == 2, TimeSpan.FromSeconds(90), "both namespace nodes to join");
    }

    /// <summary>A client of the monitor (n1) from the test's namespace.</summary>
    public MonitorClient Monitors() => new([Forward(0, 7000).Address], TimeSpan.FromSeconds(10));

    public NetnsForwarder Forward(int node, int port)
    {
        if (!_forwarders.TryGetValue((node, port), out var forwarder))
            _forwarders[(node, port)] = forwarder = new NetnsForwarder(Namespaces[node], new IPEndPoint(IPAddress.Parse(Address(node)), port));
        return forwarder;
    }

    public SwitchAdmin Admin(string node)
    {
        if (!_admins.TryGetValue(node, out var admin))
            _admins[node] = admin = new SwitchAdmin(node, Forward(Array.IndexOf(NodeNames, node), 7000).Address);
        return admin;
    }

    /// <summary>Defines the config's VMs in the map (never started: the test plays their NICs).</summary>
    public async Task<ulong> DefineVmsAsync()
    {
        using var monitors = Monitors();
        return await MapVms.DefineAsync(ConfigPath, monitors);
    }

    /// <summary>Waits until both switches applied map <paramref name="epoch"/>.</summary>
    public async Task WaitForSwitchesAsync(ulong epoch)
    {
        foreach (var node in NodeNames)
        {
            await Wait.UntilAsync(() => Admin(node).NetworksAsync(), r => r.MapEpoch >= epoch, TimeSpan.FromSeconds(20), $"{node}'s switch to apply epoch {epoch}");
        }
    }

    /// <summary>`fabric ARGS --home HOME --config CONFIG` inside namespace A.</summary>
    public async Task<CliResult> CliAsync(params string[] args)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", Namespaces[0], "dotnet", Repo.CliDll }.Concat(args).Concat(["--home", Home, "--config", ConfigPath]))
            start.ArgumentList.Add(a);
        start.Environment["FABRIC_ROOT"] = Repo.Root;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fabric {string.Join(' ', args)} (in {Namespaces[0]}) did not finish; stderr: {await stderr}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public string Logs()
    {
        var dir = Path.Combine(Home, "log");
        return !Directory.Exists(dir) ? "(no logs)"
            : string.Join("\n", Directory.GetFiles(dir).Select(f => $"==== {Path.GetFileName(f)}\n" + string.Join("\n", ReadShared(f).TakeLast(30))));
    }

    private static IEnumerable<string> ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n');
    }

    public static void Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(30_000))
        {
            process.Kill(true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {stderr.Result.Trim()}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var admin in _admins.Values) admin.Dispose();
        foreach (var forwarder in _forwarders.Values) await forwarder.DisposeAsync();
        foreach (var process in _nodes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
                }
            }
            catch (Exception)
            {
                // Gone already.
            }
            process.Dispose();
        }
        foreach (var ns in _namespaces)
        {
            try
            {
                Run("ip", "netns", "del", ns);
            }
            catch (Exception)
            {
                // Deleted already.
            }
        }
        try
        {
            Directory.Delete(Home, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
