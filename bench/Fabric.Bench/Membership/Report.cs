using System.Globalization;
using System.Text;

namespace Fabric.Bench.Membership;

/// <summary>Markdown tables for the membership benchmarks' results.</summary>
public static class Report
{
    private const double FanoutGoalMs = 50;
    private const double DetectionGoalMs = 3500;

    public static void ThreeNodes(StringBuilder o, ThreeNodePropagation.Result r, TimeSpan poll, int subnet)
    {
        o.AppendLine(CultureInfo.InvariantCulture, $"### 1. Map propagation to 3 real nodes (127.0.{subnet}.1-3, node processes, monitor on n1)");
        o.AppendLine();
        o.AppendLine(CultureInfo.InvariantCulture, $"{r.FromCallUpperMs.Count} pool create/delete changes through MonitorClient.ProposeAsync (after 10 warm-up), {r.Discarded} discarded; "
            + $"each node polled with NodeAdmin.GetNodeStatus (map_epoch), {poll.TotalMilliseconds:0} ms between polls of a node, all 3 in parallel.");
        o.AppendLine();
        o.AppendLine("| measure | p50 / p99 / max (ms) | mean (ms) |");
        o.AppendLine("|---|---|---|");
        Row(o, "**until the last of 3 nodes has the epoch, from just before ProposeChange** (upper bound: first poll answer showing it)", r.FromCallUpperMs);
        Row(o, "same, lower bound (last poll sent that still showed the old epoch)", r.FromCallLowerMs);
        Row(o, "same (upper bound), from ProposeChange returning (negative: before the reply)", r.FromReplyMs);
        Row(o, "ProposeChange round trip (commit with fsync included)", r.ProposeMs);
        Row(o, "poll resolution per node sample (upper - lower bound)", r.ResolutionMs);
        Row(o, "GetNodeStatus round trip (mean per node per change)", r.PollRttMs);
        o.AppendLine();
        o.AppendLine(CultureInfo.InvariantCulture, $"Load: {r.LoadBefore} before, {r.LoadAfter} after.");
        o.AppendLine();
    }

    public static void Fanout(StringBuilder o, IReadOnlyList<WatcherFanoutPropagation.Result> results)
    {
        o.AppendLine("### 2. Map propagation to W MapWatchers in one process (in-process monitor on RocksDB, real gRPC over HTTP/2 on loopback)");
        o.AppendLine();
        o.AppendLine(CultureInfo.InvariantCulture, $"Goal (issue 3): under {FanoutGoalMs:0} ms to 1000 watchers. Time until the *last* watcher raised MapChanged.");
        o.AppendLine();
        o.AppendLine("| watchers / connections | map bytes | changes | from call: p50 / p99 / max | from reply: p50 / p99 / max | goal p99 < 50 ms | CPU ms per change | KiB allocated per change |");
        o.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            o.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Options.Watchers} / {r.Options.Connections} | {r.Codec.Bytes:N0} | {r.FromCallMs.Count}{(r.Timeouts > 0 ? $" ({r.Timeouts} timed out)" : "")} | {r.FromCallMs.Cell} | {r.FromReplyMs.Cell} | "
                + $"{(r.Options.Watchers < 1000 ? "-" : r.FromCallMs.P99Ms < FanoutGoalMs ? "met" : "**missed**")} | {r.CpuMsPerChange:0.0} | {r.AllocatedKiBPerChange:N0} |");
        }
        o.AppendLine();
        o.AppendLine("Where the time goes (ms; p50 / p99 / max). Stages: *apply* = call start to the store's commit start (request trip, MapTransactions.Apply), "
            + "*commit* = RocksDB synced write, *first / median delivery* = commit end to the first / median watcher's MapChanged, "
            + "*spread* = first to last watcher. Serialize and parse are the medians of one map's CalculateSize+WriteTo and ParseFrom, "
            + "times W = the serialization work WatchMap does per change today (one serialization per watcher).");
        o.AppendLine();
        o.AppendLine("| watchers | map nodes | apply | commit | first delivery | median delivery | spread first→last | serialize µs × W | parse µs × W | gen0 / gen2 GCs | setup s |");
        o.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            o.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Options.Watchers} | {r.Options.MapNodes} | {r.ApplyMs.Cell} | {r.CommitMs.Cell} | {r.FirstDeliveryMs.Cell} | {r.MedianDeliveryMs.Cell} | {r.SpreadMs.Cell} | "
                + $"{r.Codec.SerializeMicros:0.0} × {r.Options.Watchers} = {r.Codec.SerializeMicros * r.Options.Watchers / 1000:0.0} ms | "
                + $"{r.Codec.ParseMicros:0.0} × {r.Options.Watchers} = {r.Codec.ParseMicros * r.Options.Watchers / 1000:0.0} ms | {r.Gen0} / {r.Gen2} | {r.SetupSeconds:0.0} |");
        }
        o.AppendLine();
        foreach (var r in results) o.AppendLine(CultureInfo.InvariantCulture, $"- W={r.Options.Watchers}, map nodes {r.Options.MapNodes}: {r.LoadBefore} before, {r.LoadAfter} after.");
        o.AppendLine();
    }

    public static void FailureDetection(StringBuilder o, FailureDetectionTime.Result r)
    {
        o.AppendLine("### 3. Failure detection after kill -9 (3-node cluster)");
        o.AppendLine();
        o.AppendLine(CultureInfo.InvariantCulture,
            $"Heartbeat every {r.HeartbeatInterval.TotalMilliseconds:0} ms, grace {r.Grace.TotalSeconds:0.#} s (Ceph's default osd_heartbeat_grace is 20 s), monitor tick 100 ms. "
            + $"*Observed* = kill to the first GetMap (polled every 10 ms) showing the node down; *decided* = the map's state_changed_unix_ms minus the kill's wall-clock time (no poll in it). "
            + $"Goal: under {DetectionGoalMs / 1000:0.0} s.");
        o.AppendLine();
        o.AppendLine("| # | node | observed ms | decided ms | `fabric status` shows down | restart (fabric up) s | reason in map | load |");
        o.AppendLine("|---|---|---|---|---|---|---|---|");
        for (int i = 0; i < r.Kills.Count; i++)
        {
            var k = r.Kills[i];
            o.AppendLine(CultureInfo.InvariantCulture, $"| {i + 1} | {k.Node} | {k.ObservedMs:0} | {k.DecidedMs:0} | {(k.StatusShowedDown ? "yes" : "no")} | {k.RestartMs / 1000:0.0} | {k.DownReason} | {k.Load} |");
        }
        o.AppendLine();
        var observed = r.Observed;
        var decided = r.Decided;
        o.AppendLine("| summary | mean ms | max ms | goal max < 3500 ms |");
        o.AppendLine("|---|---|---|---|");
        o.AppendLine(CultureInfo.InvariantCulture, $"| observed (kill → map shows down, via 10 ms poll) | {observed.MeanMs:0} | {observed.MaxMs:0} | {(observed.MaxMs < DetectionGoalMs ? "met" : "**missed**")} |");
        o.AppendLine(CultureInfo.InvariantCulture, $"| decided (kill → monitor commits down) | {decided.MeanMs:0} | {decided.MaxMs:0} | {(decided.MaxMs < DetectionGoalMs ? "met" : "**missed**")} |");
        o.AppendLine();
        o.AppendLine(CultureInfo.InvariantCulture, $"Load: {r.LoadBefore} before, {r.LoadAfter} after.");
        o.AppendLine();
    }

    private static void Row(StringBuilder o, string name, LatencySummary s) =>
        o.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {s.Cell} | {LatencySummary.Ms(s.MeanMs)} |");
}
