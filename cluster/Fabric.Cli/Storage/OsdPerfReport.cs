using System.Globalization;
using System.Text.Json.Nodes;
using Fabric.Proto;
using Spectre.Console;

namespace Fabric.Cli.Storage;

/// <summary>
/// What `fabric osd perf` shows: each OSD's latency per stage of its ops, since the OSD started, as each up node's
/// StorageAdmin.OsdStatus reports it (the OSD's perf counters, like `ceph osd perf` and `ceph daemon osd.N perf dump`).
/// An OSD whose node is down or does not answer is still listed, with why, so the table always has every OSD.
/// </summary>
public sealed class OsdPerfReport
{
    // The stage names the OSD reports (OsdPerfCounters.Stages in Fabric.Storage, which the CLI does not reference).
    public const string Write = "write";
    public const string LocalCommit = "write_local_commit";
    public const string ReplicaAck = "write_replica_ack";
    public const string ReplicaCommit = "replica_commit";
    public const string Read = "read";
    public const string StoreSync = "store_sync";

    public List<OsdRow> Osds { get; } = new();

    /// <summary>One OSD: its node's answer, or (Status null) why there is none: the node is down or did not answer.</summary>
    public sealed record OsdRow(int Osd, string Node, bool Up, OsdStatusReply? Status, string? Error)
    {
        public bool Reachable => Status is not null;

        /// <summary>The stage as the OSD reported it; null when it did not answer or does not count that stage.</summary>
        public OsdStageLatency? Stage(string name) => Status?.Stages.FirstOrDefault(s => s.Stage == name);

        public ulong Count(string name) => Stage(name)?.Count ?? 0;

        /// <summary>"down" for a node the map says is down, "no answer" for one that is up but did not answer.</summary>
        public string Unreachable => Up ? "no answer" : "down";

        public JsonObject ToJson()
        {
            var stages = new JsonObject();
            foreach (var stage in Status?.Stages ?? [])
            {
                stages[stage.Stage] = new JsonObject
                {
                    ["count"] = stage.Count,
                    ["mean_ms"] = JsonMilliseconds(stage.Count == 0 ? 0 : stage.SumSeconds / stage.Count),
                    ["p50_ms"] = JsonMilliseconds(stage.P50Seconds),
                    ["p99_ms"] = JsonMilliseconds(stage.P99Seconds),
                };
            }
            return new JsonObject
            {
                ["osd"] = Osd,
                ["node"] = Node,
                ["up"] = Up,
                ["reachable"] = Reachable,
                ["error"] = Error,
                ["stages"] = stages,
            };
        }
    }

    /// <summary>The table's columns: a header and what each OSD shows under it (the OSD answered).</summary>
    private static readonly (string Header, Func<OsdRow, string> Cell)[] Columns =
    [
        ("writes", r => r.Count(Write).ToString(CultureInfo.InvariantCulture)),
        ("write p50 ms", r => P50(r, Write)),
        ("write p99 ms", r => Quantile(r.Stage(Write), s => s.P99Seconds)),
        ("commit p50 ms", r => P50(r, LocalCommit)),
        ("replica ack p50 ms", r => P50(r, ReplicaAck)),
        ("replica commit p50 ms", r => P50(r, ReplicaCommit)),
        ("reads", r => r.Count(Read).ToString(CultureInfo.InvariantCulture)),
        ("read p50 ms", r => P50(r, Read)),
        ("sync p50 ms", r => P50(r, StoreSync)),
    ];

    public static IReadOnlyList<string> Headers => ["osd", "node", .. Columns.Select(c => c.Header)];

    /// <summary>Asks every up node's OSD for its status (in parallel) and builds the report.</summary>
    public static async Task<OsdPerfReport> GatherAsync(ClusterMap map, CancellationToken cancellationToken) =>
        Build(await StorageAdminClient.AskEveryNodeAsync(map, n => StorageAdminClient.StatusAsync(n, cancellationToken)).ConfigureAwait(false));

    /// <summary>One row per node's OSD (its id is the node's), sorted by id: a pure function, tested without a cluster.</summary>
    public static OsdPerfReport Build(IReadOnlyList<(NodeInfo Node, OsdStatusReply? Status, string? Error)> answers)
    {
        var report = new OsdPerfReport();
        foreach (var (node, status, error) in answers.OrderBy(a => a.Node.Id))
        {
            report.Osds.Add(new OsdRow((int)node.Id, node.Name, node.State == NodeState.Up, status, status is null ? error ?? "no answer" : null));
        }
        return report;
    }

    /// <summary>The cells of each OSD's row, in <see cref="Headers"/> order, as plain text: an OSD that did not answer shows
    /// "down" or "no answer" under writes and "-" elsewhere.</summary>
    public IEnumerable<string[]> Rows() => Osds.Select(r => (string[])
        [
            r.Osd.ToString(CultureInfo.InvariantCulture),
            r.Node,
            .. Columns.Select((c, i) => r.Reachable ? c.Cell(r) : i == 0 ? r.Unreachable : "-"),
        ]);

    /// <summary>The table people read; an OSD that did not answer is in red.</summary>
    public Table Table()
    {
        var table = Output.Output.Table([.. Headers]);
        foreach (var (cells, row) in Rows().Zip(Osds))
        {
            table.AddRow(cells.Select(c => row.Reachable ? Output.Output.Esc(c) : $"[red]{Output.Output.Esc(c)}[/]").ToArray());
        }
        return table;
    }

    public JsonArray ToJson() => new(Osds.Select(r => (JsonNode)r.ToJson()).ToArray());

    /// <summary>Milliseconds to three significant digits ("0.075", "1.23", "12.3", "170"): the histogram's buckets are
    /// within about 6 % anyway, and a fixed number of decimals would either hide microseconds or pad seconds.</summary>
    public static string Milliseconds(double seconds)
    {
        double ms = seconds * 1000;
        string format = ms >= 100 ? "0" : ms >= 10 ? "0.0" : ms >= 1 ? "0.00" : "0.000";
        return ms.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>Rounded to the microsecond, the histogram's unit, so JSON does not carry float noise (0.07500000000000001).</summary>
    private static double JsonMilliseconds(double seconds) => Math.Round(seconds * 1000, 3);

    private static string P50(OsdRow row, string stage) => Quantile(row.Stage(stage), s => s.P50Seconds);

    /// <summary>"-" for a stage with nothing recorded: 0 ms would read as "instant", not "never happened".</summary>
    private static string Quantile(OsdStageLatency? stage, Func<OsdStageLatency, double> seconds) =>
        stage is { Count: > 0 } ? Milliseconds(seconds(stage)) : "-";
}
