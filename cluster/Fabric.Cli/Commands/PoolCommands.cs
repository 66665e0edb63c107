using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Cli.Output;
using Spectre.Console;
using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric pool create|list|set|rm`: replicated pools (like `ceph osd pool`). A pool fixes how many
/// copies each object has (replicas), how many must be reachable for I/O to proceed (min_replicas),
/// how objects spread (pg_count, a power of two) and which failure domain the copies avoid sharing.
/// </summary>
public static class PoolCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var pool = new Command("pool", "Replicated storage pools: create, list, set, rm");

        var createName = new Argument<string>("NAME") { Description = "Pool name" };
        var replicas = new Option<uint?>("--replicas") { Description = "Copies of each object (default 3)" };
        var minReplicas = new Option<uint?>("--min-replicas") { Description = "Copies that must be reachable for I/O to proceed; below it I/O waits (default min(2, replicas))" };
        var pgCount = new Option<uint?>("--pg-count") { Description = "Placement groups, a power of two (default 64)" };
        var failureDomain = new Option<string?>("--failure-domain") { Description = "Copies go to distinct hosts or racks (default host)" };
        failureDomain.AcceptOnlyFromAmong("host", "rack");
        var create = new Command("create", "Create a pool") { createName, replicas, minReplicas, pgCount, failureDomain };
        globals.SetAction(create, async (parse, context, cancellationToken) =>
        {
            var name = parse.GetValue(createName)!;
            var info = new PoolInfo
            {
                Name = name,
                Replicas = parse.GetValue(replicas) ?? 0,
                MinReplicas = parse.GetValue(minReplicas) ?? 0,
                PgCount = parse.GetValue(pgCount) ?? 0,
                FailureDomain = parse.GetValue(failureDomain) ?? "",
            };
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            if (map.FindPool(name) is not null) throw new CliException($"pool {name} already exists (fabric pool list shows it; fabric pool set {name} changes it)");
            var epoch = await context.ApplyAsync($"fabric pool create {name}", cancellationToken, new MapChange { PoolCreate = new PoolCreate { Pool = info } }).ConfigureAwait(false);
            var created = (await context.MapAsync(cancellationToken).ConfigureAwait(false)).FindPool(name);
            if (context.Json) context.Out.WriteJson(created is null ? new JsonObject { ["name"] = name, ["epoch"] = epoch } : PoolJson(created, map, epoch));
            else context.Out.Line(created is null ? $"pool {name} created (map epoch {epoch})"
                : $"pool {name} created: id {created.Id}, {created.Replicas} replicas (min {created.MinReplicas}), {created.PgCount} PGs, failure domain {created.FailureDomain} (map epoch {epoch})");
            return 0;
        });
        pool.Subcommands.Add(create);

        var list = new Command("list", "Every pool: replicas, PGs, failure domain, volumes and their provisioned size");
        list.Aliases.Add("ls");
        globals.SetAction(list, async (_, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonArray(map.Pools.Select(p => (JsonNode)PoolJson(p, map, null)).ToArray()));
                return 0;
            }
            if (map.Pools.Count == 0)
            {
                context.Out.Line("no pools (fabric pool create NAME makes one)");
                return 0;
            }
            var table = Output.Output.Table("name", "id", "replicas", "min", "pgs", "failure domain", "volumes", "provisioned");
            foreach (var p in map.Pools)
            {
                var volumes = map.Volumes.Where(v => v.PoolId == p.Id).ToList();
                table.AddRow(Output.Output.Esc(p.Name), p.Id.ToString(), p.Replicas.ToString(), p.MinReplicas.ToString(), p.PgCount.ToString(),
                    Output.Output.Esc(p.FailureDomain), volumes.Count.ToString(), Units.Bytes((ulong)volumes.Sum(v => (long)v.SizeBytes)));
            }
            context.Out.Write(table);
            return 0;
        });
        pool.Subcommands.Add(list);

        var setName = new Argument<string>("NAME") { Description = "Pool name" };
        var setReplicas = new Option<uint?>("--replicas") { Description = "Copies of each object" };
        var setMin = new Option<uint?>("--min-replicas") { Description = "Copies that must be reachable for I/O" };
        var setPgs = new Option<uint?>("--pg-count") { Description = "Placement groups (only while the pool holds no volume)" };
        var set = new Command("set", "Change a pool's replicas, min-replicas or pg-count (data moves to match)") { setName, setReplicas, setMin, setPgs };
        globals.SetAction(set, async (parse, context, cancellationToken) =>
        {
            var name = parse.GetValue(setName)!;
            var change = new PoolSet { Name = name, Replicas = parse.GetValue(setReplicas) ?? 0, MinReplicas = parse.GetValue(setMin) ?? 0, PgCount = parse.GetValue(setPgs) ?? 0 };
            if (change.Replicas == 0 && change.MinReplicas == 0 && change.PgCount == 0)
            {
                throw new CliException("nothing to change: give --replicas, --min-replicas or --pg-count", CliException.Usage);
            }
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            _ = RequirePool(map, name);
            var epoch = await context.ApplyAsync($"fabric pool set {name}", cancellationToken, new MapChange { PoolSet = change }).ConfigureAwait(false);
            var after = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var updated = RequirePool(after, name);
            if (context.Json) context.Out.WriteJson(PoolJson(updated, after, epoch));
            else context.Out.Line($"pool {name}: {updated.Replicas} replicas (min {updated.MinReplicas}), {updated.PgCount} PGs (map epoch {epoch})");
            return 0;
        });
        pool.Subcommands.Add(set);

        var rmName = new Argument<string>("NAME") { Description = "Pool name" };
        var rm = new Command("rm", "Remove an empty pool") { rmName };
        rm.Aliases.Add("delete");
        globals.SetAction(rm, async (parse, context, cancellationToken) =>
        {
            var name = parse.GetValue(rmName)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var existing = RequirePool(map, name);
            var volumes = map.Volumes.Where(v => v.PoolId == existing.Id).Select(v => v.Name).ToList();
            if (volumes.Count > 0)
            {
                throw new CliException($"pool {name} still holds {volumes.Count} volume(s) ({string.Join(", ", volumes.Take(5))}{(volumes.Count > 5 ? ", ..." : "")}): remove them first (fabric volume rm NAME)");
            }
            var epoch = await context.ApplyAsync($"fabric pool rm {name}", cancellationToken, new MapChange { PoolDelete = new PoolDelete { Name = name } }).ConfigureAwait(false);
            if (context.Json) context.Out.WriteJson(new JsonObject { ["removed"] = name, ["epoch"] = epoch });
            else context.Out.Line($"pool {name} removed (map epoch {epoch})");
            return 0;
        });
        pool.Subcommands.Add(rm);
        return pool;
    }

    /// <summary>The pool, or an error that names the fix.</summary>
    public static PoolInfo RequirePool(ClusterMap map, string name) =>
        map.FindPool(name) ?? throw new CliException(map.Pools.Count == 0
            ? $"pool {name} does not exist: fabric pool create {name}"
            : $"pool {name} does not exist: fabric pool create {name} (existing: {string.Join(", ", map.Pools.Select(p => p.Name))})");

    public static JsonObject PoolJson(PoolInfo p, ClusterMap map, ulong? epoch)
    {
        var volumes = map.Volumes.Where(v => v.PoolId == p.Id).ToList();
        var json = new JsonObject
        {
            ["name"] = p.Name,
            ["id"] = p.Id,
            ["replicas"] = p.Replicas,
            ["min_replicas"] = p.MinReplicas,
            ["pg_count"] = p.PgCount,
            ["failure_domain"] = p.FailureDomain,
            ["volumes"] = volumes.Count,
            ["provisioned_bytes"] = (ulong)volumes.Sum(v => (long)v.SizeBytes),
            ["created_unix_ms"] = p.CreatedUnixMs,
        };
        if (epoch is not null) json["epoch"] = epoch;
        return json;
    }
}
