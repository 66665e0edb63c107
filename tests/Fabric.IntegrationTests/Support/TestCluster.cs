using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Fabric.IntegrationTests.Support;

/// <summary>
/// A real cluster of `fabric node` processes started by the real CLI (`fabric up`) in a private
/// $FABRIC_HOME, on a loopback /24 of its own (127.0.X.1-3) so it never collides with another cluster
/// on the machine. Dispose stops every process it started (`fabric down --purge`, then kills stragglers).
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private static int _next = new Random().Next(20, 200);

    private TestCluster(string home, string configPath, int subnet, IReadOnlyList<string> nodes)
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

    public string Address(int index) => $"127.0.{Subnet}.{index + 1}";

    public string Grpc(string node) => $"{Address(Nodes.ToList().IndexOf(node))}:7000";

    /// <summary>Writes a config for <paramref name="nodeCount"/> nodes. <paramref name="extra"/> is TOML appended
    /// to the file (pools, volumes, networks); <paramref name="cluster"/> makes the [cluster] body from the
    /// subnet number X of the cluster's addresses 127.0.X.n; <paramref name="nodeExtra"/> is TOML added to every
    /// [[node]] table (e.g. its caches).</summary>
    public static TestCluster Create(int nodeCount = 3, string extra = "", Func<int, string>? cluster = null, string graceText = "3s", string nodeExtra = "")
    {
        var subnet = Interlocked.Increment(ref _next) % 200 + 20;
        var home = Path.Combine(Path.GetTempPath(), "fabric-it-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(home);
        var names = Enumerable.Range(1, nodeCount).Select(i => "n" + i).ToList();
        var text = new System.Text.StringBuilder();
        text.AppendLine("[cluster]");
        text.AppendLine(cluster?.Invoke(subnet) ?? $"name = \"it{subnet}\"\nmonitors = [\"n1\"]\nheartbeat_interval = \"500ms\"\nheartbeat_grace = \"{graceText}\"\ndown_out_interval = \"60s\"");
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
            if (nodeExtra.Length > 0) text.AppendLine(nodeExtra);
        }
        text.AppendLine(extra);
        var configPath = Path.Combine(home, "test-cluster.toml");
        File.WriteAllText(configPath, text.ToString());
        return new TestCluster(home, configPath, subnet, names);
    }

    public Task<CliResult> CliAsync(params string[] args) => CliRun.RunAsync(args.Concat(["--home", Home, "--config", ConfigPath]));

    public async Task<JsonNode> CliJsonAsync(params string[] args)
    {
        var result = await CliAsync(args.Append("--json").ToArray());
        Assert.True(result.ExitCode == 0, $"fabric {string.Join(' ', args)} failed: {result}");
        return result.Json;
    }

    /// <summary>Starts (or restarts) the cluster's nodes; <paramref name="environment"/> goes to the node processes.</summary>
    public async Task UpAsync(IDictionary<string, string>? environment = null)
    {
        var result = await CliRun.RunAsync(["up", ConfigPath, "--home", Home, "--json"], environment: environment, timeout: TimeSpan.FromSeconds(240));
        Assert.True(result.ExitCode == 0, $"fabric up failed: {result}\n{Logs()}");
    }

    public int Pid(string node)
    {
        var text = File.ReadAllText(Path.Combine(Home, "run", "node-" + node + ".pid")).Split(' ')[0];
        return int.Parse(text, CultureInfo.InvariantCulture);
    }

    public void Kill9(string node) => Process.GetProcessById(Pid(node)).Kill();

    /// <summary>Sends a node's process a signal by name ("STOP", "CONT"): a stopped node neither heartbeats nor
    /// answers, though it keeps its state. A test that stops one continues it before it ends (dispose kills it anyway).</summary>
    public void Signal(string node, string signal) => Signal(Pid(node), signal);

    public static void Signal(int pid, string signal)
    {
        using Process kill = Process.Start("kill", $"-{signal} {pid}")!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    public string Logs()
    {
        var dir = Path.Combine(Home, "log");
        if (!Directory.Exists(dir)) return "(no logs)";
        return string.Join("\n", Directory.GetFiles(dir).Select(f => $"==== {Path.GetFileName(f)}\n" + string.Join("\n", File.ReadLines(f).TakeLast(30))));
    }

    /// <summary>With FABRIC_IT_LOG_DIR set, a cluster's node logs and console logs are kept there when it is
    /// disposed (one folder per cluster), for reading a failure after the fact.</summary>
    private void KeepLogs()
    {
        var keep = Environment.GetEnvironmentVariable("FABRIC_IT_LOG_DIR");
        if (string.IsNullOrEmpty(keep) || !Directory.Exists(Home)) return;
        var target = Path.Combine(keep, Path.GetFileName(Home));
        foreach (var file in Directory.EnumerateFiles(Home, "*.log", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(target, Path.GetRelativePath(Home, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy, overwrite: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            KeepLogs();
            await CliRun.RunAsync(["down", "--purge", "--home", Home], timeout: TimeSpan.FromSeconds(90));
        }
        finally
        {
            // Whatever `down` missed (a test that SIGSTOPped a node, say): every process that names our home.
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
            }
            if (Directory.Exists(Home)) Directory.Delete(Home, recursive: true);
        }
    }
}
