using System.Globalization;
using System.Text.Json.Nodes;
using Fabric.Proto;
using Spectre.Console;

namespace Fabric.Cli.Storage;

/// <summary>
/// What `fabric osd ops` shows: the client ops each OSD accepted and has not answered, oldest first, with what each
/// waits for (as `ceph daemon osd.N dump_ops_in_flight` and `dump_blocked_ops`), from each up node's
/// StorageAdmin.ListOps. An OSD whose node is down or does not answer is listed with why, so no OSD goes unmentioned.
/// </summary>
public sealed class OsdOpsReport
{
    public List<OsdAnswer> Osds { get; } = new();

    /// <summary>One OSD: its node's answer, or (Ops null) why there is none.</summary>
    public sealed record OsdAnswer(int Osd, string Node, bool Up, ListOsdOpsReply? Ops, string? Error)
    {
        public bool Reachable => Ops is not null;

        /// <summary>The ops that matched but are not listed (the limit cut them).</summary>
        public long NotListed => Ops is null ? 0 : Math.Max(0, (long)Ops.Matched - Ops.Ops.Count);
    }

    /// <summary>Every listed op of every OSD that answered, oldest first.</summary>
    public IEnumerable<(OsdAnswer Osd, OsdOpInFlight Op)> Ops() =>
        Osds.Where(o => o.Reachable).SelectMany(o => o.Ops!.Ops.Select(op => (o, op))).OrderByDescending(x => x.op.AgeSeconds);

    /// <summary>Asks every up node's OSD (in parallel) and builds the report.</summary>
    public static async Task<OsdOpsReport> GatherAsync(ClusterMap map, ListOsdOpsRequest request, CancellationToken cancellationToken) =>
        Build(await StorageAdminClient.AskEveryNodeAsync(map, n => StorageAdminClient.ListOpsAsync(n, request, cancellationToken)).ConfigureAwait(false));

    /// <summary>One entry per node's OSD (its id is the node's), sorted by id: a pure function, tested without a cluster.</summary>
    public static OsdOpsReport Build(IReadOnlyList<(NodeInfo Node, ListOsdOpsReply? Ops, string? Error)> answers)
    {
        var report = new OsdOpsReport();
        foreach (var (node, ops, error) in answers.OrderBy(a => a.Node.Id))
        {
            report.Osds.Add(new OsdAnswer((int)node.Id, node.Name, node.State == NodeState.Up, ops, ops is null ? error ?? "no answer" : null));
        }
        return report;
    }

    public static IReadOnlyList<string> Headers => ["osd", "age s", "op", "object", "pg", "pg state", "client", "tid", "waiting for"];

    /// <summary>The cells of each listed op, oldest first, in <see cref="Headers"/> order.</summary>
    public IEnumerable<string[]> Rows() => Ops().Select(x => new[]
    {
        x.Osd.Osd.ToString(CultureInfo.InvariantCulture),
        x.Op.AgeSeconds.ToString("0.0", CultureInfo.InvariantCulture),
        x.Op.Kind,
        x.Op.Object,
        x.Op.Pg,
        x.Op.PgState,
        x.Op.Client,
        x.Op.Tid.ToString(CultureInfo.InvariantCulture),
        // The detail names what it waits for in words ("min_replicas: 1 of min 2 replicas up", "peering: ...");
        // the JSON has the wait's name on its own as well.
        x.Op.Detail,
    });

    public Table Table()
    {
        var table = Output.Output.Table([.. Headers]);
        foreach (var cells in Rows())
        {
            table.AddRow(cells.Select(Output.Output.Esc).ToArray());
        }
        return table;
    }

    /// <summary>The lines under the table: a count per OSD, what the limit left out, and every OSD that did not answer.</summary>
    public IEnumerable<string> Summary()
    {
        foreach (var o in Osds)
        {
            if (!o.Reachable)
            {
                yield return $"osd.{o.Osd} ({o.Node}): {(o.Up ? "did not answer" : "down")}: {o.Error}";
                continue;
            }
            var ops = o.Ops!;
            string more = o.NotListed > 0 ? $" ({o.NotListed} more not listed: raise --limit)" : "";
            yield return $"osd.{o.Osd} ({o.Node}): {ops.Matched} op(s){more}; resends merged {ops.MergedResends}, request ids refused {ops.RefusedRequestIds}";
        }
    }

    public JsonArray ToJson() => new(Osds.Select(o => (JsonNode)new JsonObject
    {
        ["osd"] = o.Osd,
        ["node"] = o.Node,
        ["up"] = o.Up,
        ["reachable"] = o.Reachable,
        ["error"] = o.Error,
        ["map_epoch"] = o.Ops?.MapEpoch,
        ["matched"] = o.Ops?.Matched,
        ["merged_resends"] = o.Ops?.MergedResends,
        ["refused_request_ids"] = o.Ops?.RefusedRequestIds,
        ["ops"] = new JsonArray((o.Ops?.Ops ?? []).Select(op => (JsonNode)new JsonObject
        {
            ["age_seconds"] = Math.Round(op.AgeSeconds, 3),
            ["kind"] = op.Kind,
            ["object"] = op.Object,
            ["pg"] = op.Pg,
            ["pg_state"] = op.PgState,
            ["client"] = op.Client,
            ["tid"] = op.Tid,
            ["op_epoch"] = op.OpEpoch,
            ["osd_epoch"] = op.OsdEpoch,
            ["wait"] = op.Wait,
            ["detail"] = op.Detail,
        }).ToArray()),
    }).ToArray());
}
