using System.Diagnostics;
using Fabric.Membership.Client;
using Fabric.Proto;

namespace Fabric.Bench.Membership;

/// <summary>
/// Bench 3: time from `kill -9` of a node process to the map showing that node down, on a real cluster.
/// </summary>
/// <remarks>
/// <code>
///  bench                 victim (n2 or n3)          monitor (n1)
///   |  all nodes up in the map
///   |-- SIGKILL ------------>X   (t_kill; heartbeats stop; the last one was 0..interval ago)
///   |                                                 | tick every 100 ms: silent > grace?
///   |                                                 | commit "node down" (state_changed_unix_ms)
///   |-- GetMap every 10 ms ------------------------->|
///   |<-- map: victim down (t_seen)                    |
///   |-- fabric up (restarts the victim; waits until it rejoined and is up)
/// </code>
/// Two numbers per kill: observed = t_seen - t_kill (includes up to one poll interval), and decided =
/// the map's own state_changed_unix_ms - the wall-clock kill time (the monitor's commit instant, no
/// poll). The victims alternate between the non-monitor nodes because the failure detector damps flapping
/// (each down adds a penalty with a 60 s half-life; a node above the suppress level is held down when it
/// rejoins): killing one node every few seconds would make it flap by the detector's own rules.
/// </remarks>
public sealed class FailureDetectionTime
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    private readonly LocalCluster _cluster;

    public FailureDetectionTime(LocalCluster cluster) => _cluster = cluster;

    public sealed record Kill(string Node, double ObservedMs, double DecidedMs, double RestartMs, string DownReason, bool StatusShowedDown, string Load);

    public sealed record Result(IReadOnlyList<Kill> Kills, TimeSpan Grace, TimeSpan HeartbeatInterval, string LoadBefore, string LoadAfter)
    {
        public LatencySummary Observed => LatencySummary.Of(Kills.Select(k => k.ObservedMs).ToList());

        public LatencySummary Decided => LatencySummary.Of(Kills.Select(k => k.DecidedMs).ToList());
    }

    public async Task<Result> RunAsync(int kills, CancellationToken cancellationToken)
    {
        var loadBefore = MachineLoad.Describe();
        using var monitors = new MonitorClient([_cluster.Grpc(0)], TimeSpan.FromSeconds(10));
        var victims = _cluster.Nodes.Skip(1).ToArray(); // n1 hosts the only monitor
        var results = new List<Kill>();
        var map = await monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
        var grace = TimeSpan.FromMilliseconds(map.Settings.HeartbeatGraceMs);
        var interval = TimeSpan.FromMilliseconds(map.Settings.HeartbeatIntervalMs);
        for (int k = 0; k < kills; k++)
        {
            var victim = victims[k % victims.Length];
            await WaitUpAsync(monitors, victim, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);

            var killWallMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var killTicks = Stopwatch.GetTimestamp();
            _cluster.Kill9(victim);
            NodeInfo down;
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                deadline.CancelAfter(grace * 4 + TimeSpan.FromSeconds(20));
                while (true)
                {
                    map = await monitors.GetLatestMapAsync(deadline.Token).ConfigureAwait(false);
                    var node = map.Nodes.Single(n => n.Name == victim);
                    if (node.State == NodeState.Down)
                    {
                        down = node;
                        break;
                    }
                    await Task.Delay(PollInterval, deadline.Token).ConfigureAwait(false);
                }
            }
            var observedMs = (Stopwatch.GetTimestamp() - killTicks) * 1000.0 / Stopwatch.Frequency;
            var decidedMs = (double)(down.StateChangedUnixMs - killWallMs);

            // `fabric status` must agree (the user's view); it is not timed: a CLI start costs a second here.
            var status = await _cluster.StatusJsonAsync().ConfigureAwait(false);
            var statusShowedDown = StatusSaysDown(status.Stdout, victim);

            var restart = Stopwatch.StartNew();
            await _cluster.UpAsync(TimeSpan.FromSeconds(90)).ConfigureAwait(false);
            await WaitUpAsync(monitors, victim, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            results.Add(new Kill(victim, observedMs, decidedMs, restart.Elapsed.TotalMilliseconds, down.StateReason, statusShowedDown, MachineLoad.Describe()));
            Console.Error.WriteLine($"membership bench: kill {k + 1}/{kills} of {victim}: down after {observedMs:0} ms observed, {decidedMs:0} ms decided ({down.StateReason}); restart took {restart.Elapsed.TotalSeconds:0.0} s");
        }
        return new Result(results, grace, interval, loadBefore, MachineLoad.Describe());
    }

    /// <summary>True when `fabric status --json` lists the node under nodes.down.</summary>
    private static bool StatusSaysDown(string json, string node)
    {
        try
        {
            var down = System.Text.Json.Nodes.JsonNode.Parse(json)?["nodes"]?["down"]?.AsArray();
            return down is not null && down.Any(n => (string?)n == node);
        }
        catch (System.Text.Json.JsonException)
        {
            return false; // not JSON: the CLI failed (its stderr is not kept; the table says "no")
        }
    }

    private static async Task WaitUpAsync(MonitorClient monitors, string node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            try
            {
                var map = await monitors.GetLatestMapAsync(deadline.Token).ConfigureAwait(false);
                if (map.Nodes.Any(n => n.Name == node && n.State == NodeState.Up)) return;
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"node {node} did not come up within {timeout.TotalSeconds:0} s (held down by flap damping?)");
            }
            await Task.Delay(50, deadline.Token).ConfigureAwait(false);
        }
    }
}
