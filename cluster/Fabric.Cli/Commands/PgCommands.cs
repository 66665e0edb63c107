using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Cli.Output;
using Spectre.Console;
using Fabric.Cli.Storage;
using Fabric.Client.Admin;
using Fabric.Core.Map;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands;

/// <summary>`fabric pg list [--pool P]`: every placement group and its state, as its primary reports it
/// (like `ceph pg ls`); PGs no up OSD reports show as down or unknown (see <see cref="StorageReport"/>).
/// `fabric pg scrub|deep-scrub|repair PG` ask the PG's primary and wait until it finished;
/// `fabric pg inconsistent [PG]` lists what the scrubs found (like `rados list-inconsistent-obj`).</summary>
public static class PgCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var pg = new Command("pg", "Placement groups: list their states, scrub, deep-scrub, repair, list inconsistent objects");

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
        pg.Subcommands.Add(ScrubVerb(globals, "scrub", ScrubKind.Scrub, "Scrub PGs now: compare object versions and block checksums across the copies"));
        pg.Subcommands.Add(ScrubVerb(globals, "deep-scrub", ScrubKind.DeepScrub, "Deep-scrub PGs now: re-read every block of every copy and verify its checksum"));
        pg.Subcommands.Add(ScrubVerb(globals, "repair", ScrubKind.Repair, "Repair PGs: deep-scrub, then rewrite every bad copy from the authoritative one"));
        pg.Subcommands.Add(InconsistentVerb(globals));
        return pg;
    }

    private static Command ScrubVerb(GlobalOptions globals, string verb, ScrubKind kind, string description)
    {
        var pgs = new Argument<string[]>("PG") { Description = "PG ids as `fabric pg list` shows them (e.g. 1.6), or `all`", Arity = ArgumentArity.OneOrMore };
        var pool = new Option<string?>("--pool") { Description = "With `all`: only this pool's PGs" };
        var command = new Command(verb, description) { pgs, pool };
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var ids = ResolvePgs(map, parse.GetValue(pgs)!, parse.GetValue(pool));
            var results = new JsonArray();
            int failed = 0;
            // One at a time: a scrub reads every copy, and several at once only compete for the same disks.
            foreach (var id in ids)
            {
                try
                {
                    var status = await StorageAdmin.ScrubAndWaitAsync(map, id, kind, cancellationToken).ConfigureAwait(false);
                    results.Add(new JsonObject
                    {
                        ["pg"] = id.ToString(), ["ok"] = true, ["state"] = status.State, ["scrub_errors"] = status.ScrubErrors,
                        ["inconsistent_objects"] = new JsonArray(status.InconsistentObjects.Select(o => (JsonNode)o).ToArray()),
                    });
                    if (!context.Json)
                    {
                        var found = status.InconsistentObjects.Count == 0 ? "no inconsistencies" : $"{status.InconsistentObjects.Count} inconsistent object(s): {string.Join(", ", status.InconsistentObjects.Take(5))}";
                        context.Out.Line($"pg {id}: {verb} done, {status.State}; {found}");
                    }
                }
                catch (RpcException e)
                {
                    failed++;
                    results.Add(new JsonObject { ["pg"] = id.ToString(), ["ok"] = false, ["error"] = e.Detail });
                    if (!context.Json) context.Out.Note($"pg {id}: {verb} failed: {e.Detail}");
                }
            }
            if (context.Json) context.Out.WriteJson(new JsonObject { ["op"] = verb, ["pgs"] = results, ["failed"] = failed });
            if (failed > 0) throw new CliException($"{verb} failed on {failed} of {ids.Count} PG(s) (see above); run it again once the PGs are active (fabric pg list)");
            return 0;
        });
        return command;
    }

    private static Command InconsistentVerb(GlobalOptions globals)
    {
        var pgArg = new Argument<string?>("PG") { Description = "Only this PG", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("inconsistent", "Objects the last scrubs found inconsistent: which copies are bad, which is authoritative, what differs") { pgArg };
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var only = parse.GetValue(pgArg);
            if (only is not null) only = ResolvePgs(map, [only], null)[0].ToString();
            var (objects, errors) = await StorageAdmin.ListInconsistentAsync(map, only ?? "", cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["objects"] = new JsonArray(objects.Select(o => (JsonNode)new JsonObject
                    {
                        ["pg"] = o.Pg, ["object"] = o.Object, ["bad_osds"] = new JsonArray(o.BadOsds.Select(x => (JsonNode)x).ToArray()),
                        ["auth_osd"] = o.AuthOsd, ["errors"] = new JsonArray(o.Errors.Select(x => (JsonNode)x).ToArray()), ["repairing"] = o.Repairing,
                    }).ToArray()),
                    ["errors"] = new JsonArray(errors.Select(e => (JsonNode)e).ToArray()),
                });
                return 0;
            }
            foreach (var e in errors) context.Out.Note(e);
            if (objects.Count == 0)
            {
                context.Out.Line("no inconsistent objects (as of each PG's last scrub; fabric pg deep-scrub all checks every block)");
                return 0;
            }
            var table = Output.Output.Table("pg", "object", "bad copies", "good copy", "what differs", "repairing");
            foreach (var o in objects)
            {
                table.AddRow(o.Pg, Output.Output.Esc(o.Object), string.Join(",", o.BadOsds.Select(x => $"osd.{x}")), $"osd.{o.AuthOsd}",
                    Output.Output.Esc(string.Join("; ", o.Errors)), o.Repairing ? "yes" : "");
            }
            context.Out.Write(table);
            context.Out.Line($"{objects.Count} inconsistent object(s): fabric pg repair PG rewrites the bad copies");
            return 0;
        });
        return command;
    }

    /// <summary>PG ids from the command line ("1.6", or "all"), checked against the map.</summary>
    private static List<PgId> ResolvePgs(ClusterMap map, string[] texts, string? poolName)
    {
        if (texts.Length == 1 && texts[0] == "all")
        {
            var filter = poolName is null ? null : PoolCommands.RequirePool(map, poolName);
            var all = map.Pools.Where(p => filter is null || p.Id == filter.Id)
                .SelectMany(p => Enumerable.Range(0, (int)p.PgCount).Select(seed => new PgId(p.Id, (uint)seed))).ToList();
            if (all.Count == 0) throw new CliException("there are no PGs: create a pool first (fabric pool create NAME)");
            return all;
        }
        var ids = new List<PgId>();
        foreach (var text in texts)
        {
            if (!PgId.TryParse(text, out var id))
            {
                throw new CliException($"'{text}' is not a PG id: expected POOL.SEED in hex as `fabric pg list` prints it, e.g. 1.6 (or `all`)", CliException.Usage);
            }
            var pool = map.FindPool(id.Pool) ?? throw new CliException($"PG {text}: there is no pool with id {id.Pool} (fabric pool list)");
            if (id.Seed >= pool.PgCount) throw new CliException($"PG {text}: pool {pool.Name} has {pool.PgCount} PGs ({id.Pool}.0 to {id.Pool}.{pool.PgCount - 1:x})");
            ids.Add(id);
        }
        return ids;
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
