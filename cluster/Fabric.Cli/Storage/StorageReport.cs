using System.Text.Json.Nodes;
using Fabric.Core.Placement;
using Fabric.Proto;

namespace Fabric.Cli.Storage;

/// <summary>
/// The cluster's storage as the OSDs themselves see it: every PG of every pool with its state (merged
/// from each up node's StorageAdmin.ListPgs with primary_only), and each node's OSD status (capacity,
/// used bytes). What `fabric pg list` prints and what `fabric status` summarizes.
/// </summary>
/// <remarks>
/// Each PG is reported by its primary. While the map moves, an old and a new primary may both report
/// the same PG: the report made at the newer map epoch wins (and, at the same epoch, the one from the
/// OSD the CLI's own map names primary). A PG nobody reports is filled in from the CLI's map: "down"
/// when no member of its placement is up (its data is unreachable), else the primary's node
/// did not answer: "stale", as Ceph says) or "unknown" (it answered but has not peered it yet).
/// </remarks>
public sealed class StorageReport
{
    public required ulong MapEpoch { get; init; }

    public List<PgRow> Pgs { get; } = new();

    public List<NodeStorage> Nodes { get; } = new();

    public sealed record PgRow(string Pg, string Pool, string State, int[] Up, int[] Acting, int Primary, ulong Objects, ulong Bytes,
        ulong DegradedObjects, string Reason, int ReportedBy, ulong ReportEpoch)
    {
        /// <summary>Objects the PG's last scrubs found inconsistent (empty when none or unknown).</summary>
        public string[] InconsistentObjects { get; init; } = [];

        /// <summary>The state's components ("active", "clean", "degraded", ...).</summary>
        public bool Has(string part) => State.Split('+').Contains(part);

        public JsonObject ToJson() => new()
        {
            ["pg"] = Pg,
            ["pool"] = Pool,
            ["state"] = State,
            ["up"] = new JsonArray(Up.Select(o => (JsonNode)o).ToArray()),
            ["acting"] = new JsonArray(Acting.Select(o => (JsonNode)o).ToArray()),
            ["primary"] = Primary,
            ["objects"] = Objects,
            ["bytes"] = Bytes,
            ["degraded_objects"] = DegradedObjects,
            ["reason"] = Reason,
            ["reported_by"] = ReportedBy,
            ["report_epoch"] = ReportEpoch,
            ["inconsistent_objects"] = new JsonArray(InconsistentObjects.Select(o => (JsonNode)o).ToArray()),
        };
    }

    public sealed record NodeStorage(string Name, int Osd, bool Up, ulong CapacityBytes, OsdStatusReply? Status, string? Error)
    {
        public JsonObject ToJson() => new()
        {
            ["node"] = Name,
            ["osd"] = Osd,
            ["up"] = Up,
            ["reachable"] = Status is not null,
            ["capacity_bytes"] = CapacityBytes,
            ["used_bytes"] = Status?.UsedBytes ?? 0,
            ["disk_bytes"] = Status?.TotalBytes ?? 0,
            ["pgs"] = Status?.Pgs ?? 0,
            ["primary_pgs"] = Status?.PrimaryPgs ?? 0,
            ["client_ops"] = Status?.ClientOps ?? 0,
            ["recovered_objects"] = Status?.RecoveredObjects ?? 0,
            ["map_epoch"] = Status?.MapEpoch ?? 0,
            ["error"] = Error,
        };
    }

    /// <summary>PG count per state text, most frequent first.</summary>
    public IReadOnlyList<(string State, int Count)> StateCounts =>
        Pgs.GroupBy(p => p.State).Select(g => (g.Key, g.Count())).OrderByDescending(g => g.Item2).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();

    /// <summary>Object copies missing (on acting members, or for lack of members), as `ceph -s` counts them.</summary>
    public ulong DegradedObjects => (ulong)Pgs.Sum(p => (long)p.DegradedObjects);

    /// <summary>Object copies the pools' replica counts call for (the denominator of "x/y objects degraded").</summary>
    public ulong ObjectCopies { get; private set; }

    public ulong Objects => (ulong)Pgs.Sum(p => (long)p.Objects);

    /// <summary>Logical bytes stored (one copy), as the primaries count them.</summary>
    public ulong StoredBytes => (ulong)Pgs.Sum(p => (long)p.Bytes);

    /// <summary>Raw bytes used on every node's store (all copies, plus the stores' overhead).</summary>
    public ulong UsedBytes => (ulong)Nodes.Sum(n => (long)(n.Status?.UsedBytes ?? 0));

    /// <summary>The capacity the nodes offer: each node's configured capacity, or its disk when none is set.</summary>
    public ulong TotalBytes => (ulong)Nodes.Sum(n => (long)(n.CapacityBytes > 0 ? n.CapacityBytes : n.Status?.TotalBytes ?? 0));

    /// <summary>Asks every up node's StorageAdmin service (in parallel) and builds the report.</summary>
    public static async Task<StorageReport> GatherAsync(ClusterMap map, PoolInfo? pool, CancellationToken cancellationToken)
    {
        var nodes = map.Nodes.OrderBy(n => n.Id).ToList();
        var queries = nodes.Select(n => n.State == NodeState.Up
            ? StorageAdminClient.QueryAsync(n, pool?.Id ?? 0, cancellationToken)
            : Task.FromResult<(ListPgsReply?, OsdStatusReply?, string?)>((null, null, "node is down"))).ToList();
        var answers = await Task.WhenAll(queries).ConfigureAwait(false);
        return Build(map, pool, nodes.Select((n, i) => (n, answers[i].Item1, answers[i].Item2, answers[i].Item3)).ToList());
    }

    /// <summary>Merges the nodes' answers (null replies for nodes that did not answer, with the error) into
    /// one view of every PG of the pool (or of every pool): a pure function, so it is tested without a cluster.</summary>
    public static StorageReport Build(ClusterMap map, PoolInfo? pool, IReadOnlyList<(NodeInfo Node, ListPgsReply? Pgs, OsdStatusReply? Status, string? Error)> answers)
    {
        var report = new StorageReport { MapEpoch = map.Epoch };
        var nodes = answers.Select(a => a.Node).ToList();
        var placement = PlacementMap.Build(map);
        var best = new Dictionary<string, (PgStatus Status, int Osd, ulong Epoch)>(StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++)
        {
            var (_, pgs, status, error) = answers[i];
            report.Nodes.Add(new NodeStorage(nodes[i].Name, (int)nodes[i].Id, nodes[i].State == NodeState.Up, nodes[i].CapacityBytes, status, error));
            if (pgs is null) continue;
            foreach (var pg in pgs.Pgs)
            {
                if (best.TryGetValue(pg.Pg, out var held) && !Better(pgs.MapEpoch, pgs.Osd, held.Epoch, held.Osd, pg.Pg, placement)) continue;
                best[pg.Pg] = (pg, pgs.Osd, pgs.MapEpoch);
            }
        }
        foreach (var p in map.Pools.Where(p => pool is null || p.Id == pool.Id).OrderBy(p => p.Id))
        {
            for (uint seed = 0; seed < Math.Max(1, p.PgCount); seed++)
            {
                var id = new PgId(p.Id, seed);
                var key = id.ToString();
                if (best.TryGetValue(key, out var found))
                {
                    var s = found.Status;
                    // Ceph counts degraded object copies: those missing on acting members (what the OSD
                    // reports) plus, for an undersized PG, every object's copies that have no member at all.
                    ulong absent = (ulong)Math.Max(0, (int)p.Replicas - s.Acting.Count) * s.Objects;
                    report.Pgs.Add(new PgRow(key, p.Name, s.State, s.Up.ToArray(), s.Acting.ToArray(), s.Primary, s.Objects, s.Bytes, s.DegradedObjects + absent,
                        s.Reason, found.Osd, found.Epoch) { InconsistentObjects = s.InconsistentObjects.ToArray() });
                    report.ObjectCopies += s.Objects * p.Replicas;
                    continue;
                }
                var mapping = placement.Get(id);
                var members = mapping?.Placement ?? [];
                var up = members.Where(placement.IsUp).ToArray();
                var primaryUnreachable = report.Nodes.Any(n => n.Osd == (mapping?.Primary ?? -1) && n.Status is null);
                var (state, reason) = up.Length == 0
                    ? ("down", members.Length == 0 ? "no node can hold it" : $"every member is down (osd {string.Join(",", members)})")
                    : primaryUnreachable
                        ? ("stale", $"primary osd.{mapping!.Primary} does not answer")
                        : ("unknown", $"primary osd.{mapping!.Primary} has not reported it yet");
                report.Pgs.Add(new PgRow(key, p.Name, state, up, mapping?.Acting ?? [], mapping?.Primary ?? -1, 0, 0, 0, reason, -1, 0));
            }
        }
        return report;
    }

    private static bool Better(ulong epoch, int osd, ulong heldEpoch, int heldOsd, string pg, PlacementMap placement)
    {
        if (epoch != heldEpoch) return epoch > heldEpoch;
        if (PgId.TryParse(pg, out var id) && placement.Get(id) is { } mapping) return mapping.Primary == osd && heldOsd != osd;
        return false;
    }

    /// <summary>Ceph-like health checks of the PGs and the capacity: (severity, code, message).</summary>
    public IEnumerable<(string Severity, string Code, string Message)> HealthChecks()
    {
        static string Examples(IEnumerable<PgRow> rows)
        {
            var list = rows.Select(r => r.Pg).ToList();
            return string.Join(", ", list.Take(5)) + (list.Count > 5 ? $" and {list.Count - 5} more" : "");
        }

        var down = Pgs.Where(p => p.Has("down") || p.Has("incomplete")).ToList();
        if (down.Count > 0)
        {
            yield return ("error", "PG_DOWN", $"{down.Count} pg(s) down or incomplete, their data is unavailable (e.g. {Examples(down)}): bring their nodes back (fabric up; fabric node list)");
        }
        var damaged = Pgs.Where(p => p.Has("inconsistent") || p.InconsistentObjects.Length > 0).ToList();
        if (damaged.Count > 0)
        {
            var objects = damaged.SelectMany(p => p.InconsistentObjects.Select(o => $"{o} (pg {p.Pg})")).ToList();
            var named = objects.Count == 0 ? "" : ": " + string.Join(", ", objects.Take(5)) + (objects.Count > 5 ? $" and {objects.Count - 5} more" : "");
            yield return ("error", "PG_DAMAGED", $"Possible data damage: {objects.Count} inconsistent object(s) in {damaged.Count} pg(s){named}; " +
                $"fabric pg inconsistent shows which copies differ, fabric pg repair {damaged[0].Pg} rewrites them from the good copy");
        }
        var inactive = Pgs.Where(p => !p.Has("active") && !down.Contains(p)).ToList();
        if (inactive.Count > 0)
        {
            var kinds = string.Join(", ", inactive.GroupBy(p => p.State).Select(g => $"{g.Count()} {g.Key}"));
            yield return ("warn", "PG_AVAILABILITY", $"Reduced data availability: {inactive.Count} pg(s) inactive ({kinds}; e.g. {Examples(inactive)}): I/O to them waits");
        }
        var degraded = Pgs.Where(p => p.Has("active") && (p.Has("degraded") || p.Has("undersized") || p.Has("recovering") || p.Has("backfilling"))).ToList();
        if (degraded.Count > 0 || DegradedObjects > 0)
        {
            var parts = new[] { "degraded", "undersized", "recovering", "backfilling" }
                .Select(part => (part, count: degraded.Count(p => p.Has(part)))).Where(x => x.count > 0).Select(x => $"{x.count} {x.part}");
            var share = ObjectCopies == 0 ? "" : $" ({(double)DegradedObjects / ObjectCopies:P1})";
            yield return ("warn", "PG_DEGRADED", $"Degraded data redundancy: {DegradedObjects}/{ObjectCopies} object copies degraded{share}, {degraded.Count} pg(s) affected ({string.Join(", ", parts)}; e.g. {Examples(degraded)})");
        }
        var slowOps = Nodes.Where(n => n.Status is { SlowOps: > 0 }).OrderByDescending(n => n.Status!.OldestSlowOpSeconds).ToList();
        if (slowOps.Count > 0)
        {
            var oldest = slowOps[0];
            yield return ("warn", "SLOW_OPS", $"{slowOps.Sum(n => (long)n.Status!.SlowOps)} slow op(s), oldest one blocked for {oldest.Status!.OldestSlowOpSeconds:F0} s on osd.{oldest.Osd} " +
                $"({oldest.Status.OldestSlowOp}); daemons with slow ops: {string.Join(", ", slowOps.Select(n => $"osd.{n.Osd}"))}; their node logs name every one");
        }
        foreach (var node in Nodes.Where(n => n.Up && n.Status is null))
        {
            yield return ("warn", "OSD_UNREACHABLE", $"osd.{node.Osd} on node {node.Name} is up in the map but its storage service does not answer: {node.Error}");
        }
        foreach (var node in Nodes.Where(n => n.Status is not null && n.CapacityBytes > 0))
        {
            double fill = (double)node.Status!.UsedBytes / node.CapacityBytes;
            if (fill >= 0.95) yield return ("error", "OSD_FULL", $"osd.{node.Osd} on {node.Name} is {fill:P0} full: add capacity or nodes, or remove volumes");
            else if (fill >= 0.85) yield return ("warn", "OSD_NEARFULL", $"osd.{node.Osd} on {node.Name} is {fill:P0} full");
        }
    }
}
