using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Cli.Output;
using Spectre.Console;
using Fabric.Cli.Storage;

namespace Fabric.Cli.Commands;

/// <summary>`fabric pg list [--pool P]`: every placement group and its state, as its primary reports it
/// (like `ceph pg ls`); PGs no up OSD reports show as down or unknown (see <see cref="StorageReport"/>).</summary>
public static class PgCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var pg = new Command("pg", "Placement groups: list their states");

        var pool = new Option<string?>("--pool") { Description = "Only this pool's PGs" };
        var state = new Option<string?>("--state") { Description = "Only PGs whose state contains this word (e.g. degraded, recovering)" };
        var list = new Command("list", "Every PG: state, up and acting OSDs, primary, objects, bytes, degraded objects") { pool, state };
        list.Aliases.Add("ls");
        globals.SetAction(list, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var poolName = parse.GetValue(pool);
            var filter = poolName is null ? null : PoolCommands.RequirePool(map, poolName);
            var report = await StorageReport.GatherAsync(map, filter, cancellationToken).ConfigureAwait(false);
            var word = parse.GetValue(state);
            var rows = report.Pgs.Where(p => word is null || p.Has(word)).ToList();
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["epoch"] = map.Epoch,
                    ["total"] = report.Pgs.Count,
                    ["states"] = StatesJson(report),
                    ["degraded_objects"] = report.DegradedObjects,
                    ["pgs"] = new JsonArray(rows.Select(r => (JsonNode)r.ToJson()).ToArray()),
                    ["nodes"] = new JsonArray(report.Nodes.Select(n => (JsonNode)n.ToJson()).ToArray()),
                });
                return 0;
            }
            if (report.Pgs.Count == 0)
            {
                context.Out.Line("no PGs: there is no pool (fabric pool create NAME)");
                return 0;
            }
            var table = Output.Output.Table("pg", "state", "up", "acting", "primary", "objects", "bytes", "degraded", "reason");
            foreach (var r in rows)
            {
                var color = r.State == "active+clean" ? "green" : r.Has("down") || r.Has("incomplete") ? "red" : "yellow";
                table.AddRow(r.Pg, $"[{color}]{Output.Output.Esc(r.State)}[/]", Output.Output.Esc($"[{string.Join(",", r.Up)}]"), Output.Output.Esc($"[{string.Join(",", r.Acting)}]"),
                    r.Primary < 0 ? "-" : r.Primary.ToString(), r.Objects.ToString(), Units.Bytes(r.Bytes), r.DegradedObjects.ToString(), Output.Output.Esc(r.Reason));
            }
            context.Out.Write(table);
            context.Out.Line($"{report.Pgs.Count} pgs: {StatesText(report)}; {report.DegradedObjects} degraded object(s); map epoch {map.Epoch}");
            foreach (var n in report.Nodes.Where(n => n.Up && n.Status is null)) context.Out.Note($"osd.{n.Osd} ({n.Name}) did not answer: {n.Error}");
            return 0;
        });
        pg.Subcommands.Add(list);
        return pg;
    }

    public static JsonObject StatesJson(StorageReport report)
    {
        var json = new JsonObject();
        foreach (var (state, count) in report.StateCounts) json[state] = count;
        return json;
    }

    /// <summary>"60 active+clean, 4 active+undersized+degraded".</summary>
    public static string StatesText(StorageReport report) =>
        report.Pgs.Count == 0 ? "none" : string.Join(", ", report.StateCounts.Select(s => $"{s.Count} {s.State}"));
}
