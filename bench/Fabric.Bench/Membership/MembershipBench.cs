using System.Globalization;
using System.Text;

namespace Fabric.Bench.Membership;

/// <summary>
/// `Fabric.Bench membership [options]`: the membership benchmarks of issue 3, printed as markdown.
/// <list type="number">
/// <item>map propagation to the 3 nodes of a real cluster (node processes started by `fabric up`);</item>
/// <item>map propagation to W MapWatchers in one process (in-process monitor over RocksDB, real gRPC);</item>
/// <item>failure detection time after `kill -9` of a node of the real cluster.</item>
/// </list>
/// Progress goes to stderr, the report to stdout. Every process and directory the bench creates is
/// removed before it returns, also when a bench fails.
/// </summary>
public static class MembershipBench
{
    private const string Usage = """
        usage: Fabric.Bench membership [--only 1,2,3] [--changes 200] [--poll-ms 1] [--fanout-changes 100]
                                       [--watchers 100,1000] [--connections 4] [--map-nodes 0,100] [--kills 6]
          --only         which benches: 1 = 3-node propagation, 2 = watcher fan-out, 3 = failure detection
          --changes      map changes measured on the 3-node cluster (after 10 warm-up changes)
          --poll-ms      pause between GetNodeStatus polls of one node in bench 1 (0 = back to back)
          --fanout-changes  map changes measured per fan-out run (after 10 warm-up changes)
          --watchers     watcher counts for bench 2, comma-separated (one run each)
          --connections  HTTP/2 connections (MonitorClients) the watchers are spread over
          --map-nodes    extra nodes in the fan-out map, comma-separated (one run each): the map's size
          --kills        kill -9 rounds in bench 3 (alternating between n2 and n3)
        """;

    public static int Run(string[] args)
    {
        try
        {
            return RunAsync(args).GetAwaiter().GetResult();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"membership bench: {e.Message}\n{Usage}");
            return 2;
        }
    }

    private static async Task<int> RunAsync(string[] args)
    {
        var options = Parse(args);
        var only = Ints(options, "only", "1,2,3");
        var report = new StringBuilder();
        report.AppendLine("## Membership benchmarks (issue 3)");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} CPUs, {MachineLoad.Describe()} at start; .NET {Environment.Version}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        report.AppendLine("Latency cells are p50 / p99 / max in ms (nearest-rank percentiles).");
        report.AppendLine();
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        var failed = false;

        if (only.Contains(1) || only.Contains(3))
        {
            try
            {
                RepoPaths.RequireBuiltPrograms();
            }
            catch (InvalidOperationException e)
            {
                Console.Error.WriteLine($"membership bench: {e.Message}");
                return 2;
            }
            Console.Error.WriteLine("membership bench: starting a 3-node cluster (fabric up) ...");
            await using var cluster = LocalCluster.Create(3, TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(500));
            try
            {
                await cluster.UpAsync(TimeSpan.FromSeconds(180)).ConfigureAwait(false);
                if (only.Contains(1))
                {
                    var changes = Int(options, "changes", 200);
                    var poll = TimeSpan.FromMilliseconds(Int(options, "poll-ms", 1));
                    Console.Error.WriteLine($"membership bench: 1. propagation to 3 nodes, {changes} changes ...");
                    var result = await new ThreeNodePropagation(cluster, poll).RunAsync(changes, warmup: 10, stop.Token).ConfigureAwait(false);
                    Report.ThreeNodes(report, result, poll, cluster.Subnet);
                }
                if (only.Contains(3))
                {
                    var kills = Int(options, "kills", 6);
                    Console.Error.WriteLine($"membership bench: 3. failure detection, {kills} kills ...");
                    var result = await new FailureDetectionTime(cluster).RunAsync(kills, stop.Token).ConfigureAwait(false);
                    Report.FailureDetection(report, result);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                failed = true;
                report.AppendLine(CultureInfo.InvariantCulture, $"**The cluster benches failed:** {e.GetType().Name}: {e.Message}");
                report.AppendLine();
                Console.Error.WriteLine($"membership bench: cluster bench failed: {e}\n{cluster.Logs()}");
            }
            Console.Error.WriteLine("membership bench: stopping the cluster (fabric down --purge) ...");
        }

        if (only.Contains(2))
        {
            var results = new List<WatcherFanoutPropagation.Result>();
            foreach (var mapNodes in Ints(options, "map-nodes", "0,100"))
            {
                foreach (var watchers in Ints(options, "watchers", "100,1000"))
                {
                    var fanout = new WatcherFanoutPropagation.Options(watchers, Math.Min(Int(options, "connections", 4), watchers),
                        Int(options, "fanout-changes", 100), Warmup: 10, mapNodes);
                    Console.Error.WriteLine($"membership bench: 2. propagation to {watchers} watchers over {fanout.Connections} connections, map with {mapNodes} extra nodes, {fanout.Changes} changes ...");
                    try
                    {
                        results.Add(await new WatcherFanoutPropagation().RunAsync(fanout, stop.Token).ConfigureAwait(false));
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
                    {
                        failed = true;
                        report.AppendLine(CultureInfo.InvariantCulture, $"**Fan-out to {watchers} watchers failed:** {e.GetType().Name}: {e.Message}");
                        Console.Error.WriteLine($"membership bench: fan-out failed: {e}");
                    }
                }
            }
            if (results.Count > 0) Report.Fanout(report, results);
        }

        report.AppendLine(CultureInfo.InvariantCulture, $"At the end: {MachineLoad.Describe()}.");
        Console.Out.Write(report.ToString());
        return failed ? 1 : 0;
    }

    private static Dictionary<string, string> Parse(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length) throw new ArgumentException($"unexpected argument '{args[i]}'");
            options[args[i][2..]] = args[++i];
        }
        return options;
    }

    private static int Int(Dictionary<string, string> options, string name, int fallback)
    {
        if (!options.TryGetValue(name, out var text)) return fallback;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : throw new ArgumentException($"--{name} wants a number, not '{text}'");
    }

    private static int[] Ints(Dictionary<string, string> options, string name, string fallback)
    {
        var text = options.GetValueOrDefault(name, fallback);
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"--{name} wants numbers, not '{t}'"))
            .ToArray();
    }
}
