using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Fabric.Bench.Membership;

/// <summary>
/// A real cluster of node processes started by the real CLI (`fabric up`) in a private home directory,
/// on a loopback /24 of its own (127.0.X.1..N) so it never collides with a test cluster or another
/// engineer's cluster on this machine. The same approach as the integration tests' TestCluster (copied:
/// the bench does not reference test projects).
/// </summary>
/// <remarks>
/// Contract: <see cref="DisposeAsync"/> stops every process this cluster started (`fabric down --purge`,
/// then SIGKILL to any process whose command line names this cluster's home) and deletes the home, so
/// a bench that fails half-way leaves nothing running.
/// </remarks>
public sealed class LocalCluster : IAsyncDisposable
{
    private LocalCluster(string home, string configPath, int subnet, IReadOnlyList<string> nodes)
    {
        Home = home;
        ConfigPath = configPath;
        Subnet = subnet;
        Nodes = nodes;
    }

    public string Home { get; }

    public string ConfigPath { get; }

    public int Subnet { get; }

    public IReadOnlyList<string> Nodes { get; }

    public string Grpc(int index) => $"127.0.{Subnet}.{index + 1}:7000";

    public string Grpc(string node) => Grpc(IndexOf(node));

    public int IndexOf(string node)
    {
        for (int i = 0; i < Nodes.Count; i++)
        {
            if (Nodes[i] == node) return i;
        }
        throw new ArgumentException($"no node {node} in this cluster", nameof(node));
    }

    /// <summary>Writes a config for <paramref name="nodeCount"/> nodes (monitor on n1, embedded store) with
    /// the given heartbeat grace, on a subnet where nothing listens yet.</summary>
    public static LocalCluster Create(int nodeCount, TimeSpan heartbeatGrace, TimeSpan heartbeatInterval)
    {
        var subnet = FreeSubnet();
        var home = Path.Combine(Path.GetTempPath(), "fabric-bench-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(home);
        var names = Enumerable.Range(1, nodeCount).Select(i => "n" + i).ToList();
        var text = new StringBuilder();
        text.AppendLine("[cluster]");
        text.AppendLine(CultureInfo.InvariantCulture, $"name = \"bench{subnet}\"");
        text.AppendLine("monitors = [\"n1\"]");
        text.AppendLine(CultureInfo.InvariantCulture, $"heartbeat_interval = \"{(int)heartbeatInterval.TotalMilliseconds}ms\"");
        text.AppendLine(CultureInfo.InvariantCulture, $"heartbeat_grace = \"{(int)heartbeatGrace.TotalMilliseconds}ms\"");
        text.AppendLine("down_out_interval = \"600s\"");
        for (int i = 0; i < nodeCount; i++)
        {
            var ip = $"127.0.{subnet}.{i + 1}";
            text.AppendLine(CultureInfo.InvariantCulture, $"""

                [[node]]
                name = "{names[i]}"
                grpc = "{ip}:7000"
                data = "{ip}"
                storage_port = 6800
                metrics = "{ip}:9100"
                failure_domain = "rack1/{names[i]}"
                capacity = "4GiB"
                vm_memory = "1GiB"
                vm_cpus = 2
                """);
        }
        var configPath = Path.Combine(home, "bench-cluster.toml");
        File.WriteAllText(configPath, text.ToString());
        return new LocalCluster(home, configPath, subnet, names);
    }

    /// <summary>A 127.0.X.0/24 whose .1:7000 nobody answers on (tests use 20..219 at random too; we probe).</summary>
    private static int FreeSubnet()
    {
        var random = new Random();
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var subnet = random.Next(20, 250);
            try
            {
                using var probe = new TcpClient();
                if (!probe.ConnectAsync($"127.0.{subnet}.1", 7000).Wait(200)) return subnet;
            }
            catch (AggregateException)
            {
                return subnet; // refused: free
            }
        }
        throw new InvalidOperationException("no free 127.0.X.0/24 subnet found after 50 tries");
    }

    /// <summary>`fabric up CONFIG`: starts the nodes that do not run and waits until every node is up in the map.</summary>
    public async Task UpAsync(TimeSpan timeout)
    {
        var result = await CliAsync(["up", ConfigPath, "--home", Home, "--json", "--timeout", ((int)timeout.TotalSeconds).ToString(CultureInfo.InvariantCulture)],
            timeout + TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        if (result.ExitCode != 0) throw new InvalidOperationException($"fabric up failed: {result}\n{Logs()}");
    }

    public Task<CliResult> StatusJsonAsync() => CliAsync(["status", "--json", "--home", Home, "--config", ConfigPath], TimeSpan.FromSeconds(60));

    /// <summary>The pid `fabric up` recorded for a node ($HOME/run/node-NAME.pid: "PID STARTTIME").</summary>
    public int Pid(string node)
    {
        var text = File.ReadAllText(Path.Combine(Home, "run", "node-" + node + ".pid")).Split(' ')[0];
        return int.Parse(text, CultureInfo.InvariantCulture);
    }

    /// <summary>SIGKILL to the node's process, after checking the pid really is that node of this cluster
    /// (pids get reused). Returns the pid killed.</summary>
    public int Kill9(string node)
    {
        var pid = Pid(node);
        var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        if (!cmdline.Contains(Home, StringComparison.Ordinal) || !cmdline.Contains($"--name {node}", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"pid {pid} is not node {node} of {Home}: {cmdline}");
        }
        using var process = Process.GetProcessById(pid);
        process.Kill(); // SIGKILL on Linux
        return pid;
    }

    public string Logs()
    {
        var dir = Path.Combine(Home, "log");
        if (!Directory.Exists(dir)) return "(no logs)";
        return string.Join("\n", Directory.GetFiles(dir).Select(f => $"==== {Path.GetFileName(f)}\n" + string.Join("\n", File.ReadLines(f).TakeLast(30))));
    }

    private static async Task<CliResult> CliAsync(IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(RepoPaths.CliDll);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["FABRIC_ROOT"] = RepoPaths.Root;
        start.Environment["FABRIC_NODE_DLL"] = RepoPaths.NodeDll;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fabric {string.Join(' ', args)} did not finish in {timeout.TotalSeconds:0} s; stderr so far: {await stderr.ConfigureAwait(false)}");
        }
        return new CliResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            var down = await CliAsync(["down", "--purge", "--home", Home], TimeSpan.FromSeconds(90)).ConfigureAwait(false);
            if (down.ExitCode != 0) Console.Error.WriteLine($"membership bench: fabric down failed: {down}");
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"membership bench: fabric down failed: {e.Message}");
        }
        finally
        {
            // Whatever `down` missed: every process whose command line names our home (only ours: the
            // home is a fresh random directory).
            foreach (var process in Process.GetProcesses())
            {
                try
                {
                    var cmdline = File.ReadAllText($"/proc/{process.Id}/cmdline");
                    if (cmdline.Contains(Home, StringComparison.Ordinal)) process.Kill(entireProcessTree: true);
                }
                catch (Exception)
                {
                    // The process ended meanwhile, or is not ours to read.
                }
                finally
                {
                    process.Dispose();
                }
            }
            if (Directory.Exists(Home)) Directory.Delete(Home, recursive: true);
        }
    }
}
