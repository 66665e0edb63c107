using System.Text.Json.Nodes;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Cluster;

/// <summary>`fabric up` / `fabric down` with real node processes, and failure detection across them.</summary>
public sealed class UpDownTests
{
    private static JsonArray Nodes(JsonNode list) => list.AsArray();

    private static string State(JsonNode list, string name) =>
        (string)Nodes(list).Single(n => (string)n!["name"]! == name)!["state"]!;

    [Fact]
    public async Task Up_starts_every_node_of_the_file_and_down_stops_them_all()
    {
        await using var cluster = TestCluster.Create();
        await cluster.UpAsync();
        var list = await cluster.CliJsonAsync("node", "list");
        Assert.Equal(new[] { "n1", "n2", "n3" }, Nodes(list).Select(n => (string)n!["name"]!).Order());
        Assert.All(Nodes(list), n => Assert.Equal("up", (string)n!["state"]!));
        var pids = cluster.Nodes.Select(cluster.Pid).ToList();
        Assert.All(pids, pid => Assert.True(Directory.Exists($"/proc/{pid}")));

        // Repeating `up` starts nothing new.
        var again = await CliRun.RunAsync(["up", cluster.ConfigPath, "--home", cluster.Home, "--json"]);
        Assert.Equal(0, again.ExitCode);
        Assert.Empty(again.Json["started"]!.AsArray());

        var down = await CliRun.RunAsync(["down", "--home", cluster.Home, "--json"]);
        Assert.Equal(0, down.ExitCode);
        Assert.Equal(3, down.Json["stopped"]!.AsArray().Count);
        foreach (var pid in pids) await Wait.UntilAsync(() => !Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "), TimeSpan.FromSeconds(10), $"pid {pid} to exit");
    }

    [Fact]
    public async Task A_killed_node_is_marked_down_every_node_sees_the_new_epoch_and_it_rejoins_with_its_id()
    {
        await using var cluster = TestCluster.Create();
        await cluster.UpAsync();
        var before = await cluster.CliJsonAsync("status");
        var epochBefore = (ulong)before["epoch"]!;
        var n2 = Nodes(await cluster.CliJsonAsync("node", "list")).Single(n => (string)n!["name"]! == "n2")!;
        var n2Id = (uint)n2["id"]!;

        cluster.Kill9("n2");
        var status = await Wait.UntilAsync(() => cluster.CliJsonAsync("status"),
            s => s["nodes"]!["down"]!.AsArray().Any(n => (string)n! == "n2"), TimeSpan.FromSeconds(30), "n2 to be marked down");
        Assert.Equal("HEALTH_WARN", (string)status["health"]!["status"]!);
        var downEpoch = (ulong)status["epoch"]!;
        Assert.True(downEpoch > epochBefore);

        // Every surviving node's map watch delivered that epoch.
        foreach (var name in new[] { "n1", "n3" })
        {
            await Wait.UntilAsync(() => cluster.CliJsonAsync("node", "show", name), s => (ulong)s["map_epoch"]! >= downEpoch,
                TimeSpan.FromSeconds(10), $"{name} to see epoch {downEpoch}");
        }

        await cluster.UpAsync();
        var list = await cluster.CliJsonAsync("node", "list");
        var back = Nodes(list).Single(n => (string)n!["name"]! == "n2")!;
        Assert.Equal("up", (string)back["state"]!);
        Assert.Equal(n2Id, (uint)back["id"]!);
        Assert.Equal(2, (int)back["incarnation"]!);
    }

    [Fact]
    public async Task Each_node_serves_prometheus_metrics_and_stops_cleanly_on_sigterm()
    {
        await using var cluster = TestCluster.Create(nodeCount: 1);
        await cluster.UpAsync();
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://{cluster.Address(0)}:9100/metrics");
        Assert.Contains("# TYPE fabric_node_map_epoch gauge", text);
        Assert.Matches(@"(?m)^fabric_node_map_epoch [1-9]\d*$", text);

        var pid = cluster.Pid("n1");
        Assert.True(Fabric.Cli.Local.Posix.Terminate(pid));
        await Wait.UntilAsync(() => !Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "), TimeSpan.FromSeconds(20), "the node to exit on SIGTERM");
        var log = File.ReadAllText(Path.Combine(cluster.Home, "log", "node-n1.log"));
        Assert.Contains("Node n1 stopped", log);
    }
}
