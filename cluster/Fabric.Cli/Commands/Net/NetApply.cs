using System.Text.Json.Nodes;
using Fabric.Config.Loading;
using Fabric.Config.Model;
using Fabric.Config.Plan;
using Fabric.Proto;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands.Net;

/// <summary>
/// `fabric net apply FILE [--dry-run]`: makes the map's networks exactly the file's [[network]] tables,
/// like `terraform apply` for networks only. Plans with <see cref="ConfigPlanner"/> (networks only, with
/// prune: a network the file no longer has is deleted), prints the plan, proposes it as one transaction
/// at the planned epoch, and waits until every up node's switch has applied the new map.
/// </summary>
/// <remarks>
/// A refused change (a network that still has VM ports, a kind change) stops the whole apply: nothing
/// is applied and the refusal is the error. A map that moved on between plan and propose (ABORTED) is
/// planned again, a few times. Re-applying the same file plans nothing and says "no changes".
/// </remarks>
internal static class NetApply
{
    private const int MaxAttempts = 4;
    private static readonly TimeSpan SwitchWait = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(CliContext context, string path, bool dryRun, CancellationToken cancellationToken)
    {
        var config = Load(context, path);
        var scope = new PlanScope { Kinds = PlanKinds.Networks, Prune = true };
        for (int attempt = 1; ; attempt++)
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            // A networks file names no cluster: it is for the cluster it is applied to.
            var planned = config.Cluster.Name.Length == 0 ? config with { Cluster = config.Cluster with { Name = map.ClusterName } } : config;
            var plan = ConfigPlanner.Plan(planned, map, scope);
            var json = PlanJson(path, plan);
            if (!context.Json) context.Out.Line(plan.Render().TrimEnd());

            if (plan.HasErrors)
            {
                if (context.Json)
                {
                    json["applied"] = false;
                    context.Out.WriteJson(json);
                }
                var count = plan.Errors.Count == 1 ? "1 change" : $"{plan.Errors.Count} changes";
                throw new CliException($"the plan refuses {count}, nothing was applied: {string.Join("; ", plan.Errors.Select(e => $"{e.Kind} {e.Name}: {e.Message}"))}");
            }
            if (!plan.HasChanges)
            {
                if (context.Json)
                {
                    json["applied"] = false;
                    json["epoch"] = map.Epoch;
                    context.Out.WriteJson(json);
                }
                else
                {
                    context.Out.Line($"no changes: the map (epoch {map.Epoch}) has the networks of {Path.GetFileName(path)} already");
                }
                return 0;
            }
            if (dryRun)
            {
                if (context.Json)
                {
                    json["applied"] = false;
                    json["dry_run"] = true;
                    context.Out.WriteJson(json);
                }
                else
                {
                    context.Out.Line("dry run: nothing applied");
                }
                return 0;
            }

            ulong epoch;
            try
            {
                var reply = await context.Monitors.ProposeAsync(plan.ToTransaction(Guid.NewGuid().ToString("N"), $"fabric net apply {Path.GetFileName(path)}"), cancellationToken).ConfigureAwait(false);
                epoch = reply.Epoch;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Aborted && attempt < MaxAttempts)
            {
                context.Out.Note($"the map changed while planning ({e.Detail}); planning again");
                continue;
            }
            catch (RpcException e)
            {
                throw new CliException($"the monitor refused the change, nothing was applied: {e.Detail}",
                    e.StatusCode is StatusCode.InvalidArgument ? CliException.Usage : CliException.Failed);
            }

            var switches = await WaitForSwitchesAsync(context, epoch, cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                json["applied"] = true;
                json["epoch"] = epoch;
                json["switches"] = switches;
                context.Out.WriteJson(json);
            }
            else
            {
                context.Out.Line($"applied {plan.Changes.Count} change(s): map epoch {epoch}");
                foreach (var s in switches.OfType<JsonObject>())
                {
                    if (!(bool)s["ok"]!) context.Out.Note($"node {s["node"]}: {s["detail"]}");
                }
                var ready = switches.OfType<JsonObject>().Where(s => (bool)s["ok"]!).Select(s => (string)s["node"]!).ToList();
                if (ready.Count > 0) context.Out.Line($"switches at epoch {epoch} or later: {string.Join(", ", ready)}");
            }
            return 0;
        }
    }

    private static ClusterConfig Load(CliContext context, string path)
    {
        if (!File.Exists(path)) throw new CliException($"file {path} does not exist", CliException.Usage);
        var loaded = NetworkFileLoader.Load(path);
        foreach (var warning in loaded.Warnings) context.Out.Note(warning.ToString());
        if (!loaded.Succeeded)
        {
            throw new CliException(string.Join(Environment.NewLine, loaded.Errors.Select(e => e.ToString())) +
                $"{Environment.NewLine}fabric: {path} is not valid ({loaded.Errors.Count()} error(s)); fix the lines above", CliException.Usage);
        }
        return loaded.Config!;
    }

    private static JsonObject PlanJson(string path, ConfigPlan plan) => new()
    {
        ["file"] = path,
        ["base_epoch"] = plan.BaseEpoch,
        ["plan"] = new JsonArray(plan.Lines.Select(l => (JsonNode)new JsonObject
        {
            ["action"] = l.Action.ToString().ToLowerInvariant(),
            ["kind"] = l.Kind,
            ["name"] = l.Name,
            ["detail"] = l.Detail,
        }).ToArray()),
        ["changes"] = plan.Changes.Count,
        ["errors"] = new JsonArray(plan.Errors.Select(e => (JsonNode)e.ToString()).ToArray()),
    };

    /// <summary>Waits (bounded) until every up node's switch reports the epoch; says which did not.</summary>
    private static async Task<JsonArray> WaitForSwitchesAsync(CliContext context, ulong epoch, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        using var nodes = new SwitchNodes(map);
        var deadline = DateTime.UtcNow + SwitchWait;
        var result = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        var pending = nodes.Up.ToList();
        while (pending.Count > 0)
        {
            var answers = await nodes.AskAllAsync((c, o) => c.UnaryAsync(SwitchAdminMethods.ListNetworks, new ListNetworksRequest(), o), cancellationToken, pending).ConfigureAwait(false);
            foreach (var a in answers)
            {
                bool ok = a.Reply is { } r && r.MapEpoch >= epoch;
                result[a.Node.Name] = new JsonObject
                {
                    ["node"] = a.Node.Name,
                    ["ok"] = ok,
                    ["epoch"] = a.Reply?.MapEpoch ?? 0,
                    ["detail"] = a.Reply is { } reply
                        ? (ok ? "" : $"its switch is at map epoch {reply.MapEpoch}, not {epoch} yet (it follows the map on its own)")
                        : $"its switch does not answer: {a.ErrorText}",
                };
                if (a.Reply is { Problems.Count: > 0 } withProblems)
                {
                    result[a.Node.Name]["problems"] = new JsonArray(withProblems.Problems.Select(p => (JsonNode)p).ToArray());
                }
            }
            pending = answers.Where(a => a.Reply is { } r && r.MapEpoch < epoch).Select(a => a.Node).ToList();
            if (pending.Count == 0 || DateTime.UtcNow > deadline) break;
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
        foreach (var (node, entry) in result)
        {
            if (entry["problems"] is JsonArray problems)
                foreach (var p in problems) context.Out.Note($"node {node}: {p}");
        }
        return new JsonArray(result.Values.OrderBy(v => (string)v["node"]!, StringComparer.Ordinal).Select(v => (JsonNode)v).ToArray());
    }
}
