using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Cli.Storage;
using Fabric.Core.Map;
using Fabric.Proto;
using Spectre.Console;

namespace Fabric.Cli.Commands;

/// <summary>`fabric status`: the cluster at a glance, in the spirit of `ceph -s`.</summary>
public static class StatusCommand
{
    public static Command Create(GlobalOptions globals)
    {
        var status = new Command("status", "Cluster health (HEALTH_OK / HEALTH_WARN / HEALTH_ERR and why), map epoch, monitors, nodes");
        globals.SetAction(status, async (_, context, cancellationToken) =>
        {
            var report = await ClusterReport.GatherAsync(context, cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(report.ToJson());
            }
            else
            {
                report.Print(context.Out);
            }
            return report.Map is null ? CliException.Failed : 0;
        });
        return status;
    }
}

/// <summary>What `fabric status` shows, gathered from the monitors and the nodes' storage services.</summary>
public sealed class ClusterReport
{
    public ClusterMap? Map { get; private init; }

    public string? MapError { get; private init; }

    /// <summary>PG states and capacity from every up node's OSD (null without a map).</summary>
    public StorageReport? Storage { get; private set; }

    public List<(string Name, string Address, MonitorStatus? Status)> Monitors { get; } = new();

    public List<HealthCheck> Checks { get; } = new();

    public string Health => Checks.Any(c => c.Severity == "error") ? "HEALTH_ERR" : Checks.Any(c => c.Severity == "warn") ? "HEALTH_WARN" : "HEALTH_OK";

    public sealed record HealthCheck(string Severity, string Code, string Message);

    public static async Task<ClusterReport> GatherAsync(CliContext context, CancellationToken cancellationToken)
    {
        var names = context.MonitorOverride.Count > 0 ? context.MonitorOverride.ToList() : context.Config.Cluster.Monitors.ToList();
        var addresses = context.MonitorAddresses;
        var statuses = await Task.WhenAll(addresses.Select(a => context.Monitors.TryGetStatusAsync(a, cancellationToken))).ConfigureAwait(false);
        ClusterMap? map = null;
        string? mapError = null;
        try
        {
            map = await context.Monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Fabric.Rpc.Protocol.RpcException e)
        {
            mapError = e.Detail;
        }
        var report = new ClusterReport { Map = map, MapError = mapError };
        for (int i = 0; i < addresses.Count; i++) report.Monitors.Add((names[i], addresses[i], statuses[i]));
        if (map is not null) report.Storage = await StorageReport.GatherAsync(map, null, cancellationToken).ConfigureAwait(false);
        report.Evaluate();
        return report;
    }

    private void Evaluate()
    {
        var active = Monitors.Where(m => m.Status?.Role == "active").ToList();
        if (Map is null)
        {
            Checks.Add(new("error", "MAP_UNAVAILABLE", $"no monitor answered with the cluster map: {MapError}"));
        }
        if (active.Count == 0)
        {
            Checks.Add(new("error", "MON_NO_ACTIVE", "no monitor is active"));
        }
        foreach (var monitor in Monitors.Where(m => m.Status is null))
        {
            Checks.Add(new("warn", "MON_DOWN", $"monitor {monitor.Name} at {monitor.Address} does not answer"));
        }
        if (Map is null) return;
        var down = Map.Nodes.Where(n => n.State != NodeState.Up).ToList();
        if (down.Count > 0)
        {
            Checks.Add(new("warn", "NODE_DOWN", $"{down.Count} node(s) down: " + string.Join("; ", down.Select(n => $"{n.Name} ({n.StateReason})"))));
        }
        var outNodes = Map.Nodes.Where(n => !n.In).ToList();
        if (outNodes.Count > 0)
        {
            Checks.Add(new("warn", "NODE_OUT", $"{outNodes.Count} node(s) out: " + string.Join(", ", outNodes.Select(n => n.Name))));
        }
        if (Map.Nodes.Count == 0)
        {
            Checks.Add(new("warn", "NO_NODES", "no node has joined yet"));
        }
        foreach (var vm in Map.Vms.Where(v => v.State == VmState.Crashed))
        {
            Checks.Add(new("warn", "VM_CRASHED", $"VM {vm.Spec.Name} crashed: {vm.StateReason}"));
        }
        if (Storage is not null)
        {
            foreach (var (severity, code, message) in Storage.HealthChecks()) Checks.Add(new(severity, code, message));
        }
    }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["health"] = new JsonObject
            {
                ["status"] = Health,
                ["checks"] = new JsonArray(Checks.Select(c => (JsonNode)new JsonObject { ["severity"] = c.Severity, ["code"] = c.Code, ["message"] = c.Message }).ToArray()),
            },
            ["monitors"] = new JsonArray(Monitors.Select(m => (JsonNode)new JsonObject
            {
                ["name"] = m.Name,
                ["address"] = m.Address,
                ["reachable"] = m.Status is not null,
                ["role"] = m.Status?.Role ?? "unreachable",
                ["epoch"] = m.Status?.Epoch ?? 0,
                ["store"] = m.Status?.Store ?? "",
            }).ToArray()),
            ["active_monitor"] = Monitors.FirstOrDefault(m => m.Status?.Role == "active").Name,
        };
        if (Map is not null)
        {
            json["cluster"] = Map.ClusterName;
            json["fsid"] = Map.Fsid;
            json["epoch"] = Map.Epoch;
            json["nodes"] = new JsonObject
            {
                ["total"] = Map.Nodes.Count,
                ["up"] = Map.Nodes.Count(n => n.State == NodeState.Up),
                ["in"] = Map.Nodes.Count(n => n.In),
                ["down"] = new JsonArray(Map.Nodes.Where(n => n.State != NodeState.Up).Select(n => (JsonNode)n.Name).ToArray()),
                ["out"] = new JsonArray(Map.Nodes.Where(n => !n.In).Select(n => (JsonNode)n.Name).ToArray()),
            };
            json["pools"] = Map.Pools.Count;
            json["volumes"] = Map.Volumes.Count;
            json["networks"] = Map.Networks.Count;
            json["vms"] = new JsonObject
            {
                ["total"] = Map.Vms.Count,
                ["running"] = Map.Vms.Count(v => v.State == VmState.Running),
            };
            json["blocklist"] = Map.Blocklist.Count;
        }
        if (Storage is not null)
        {
            json["pgs"] = new JsonObject
            {
                ["total"] = Storage.Pgs.Count,
                ["states"] = PgCommands.StatesJson(Storage),
                ["degraded_objects"] = Storage.DegradedObjects,
                ["object_copies"] = Storage.ObjectCopies,
                ["objects"] = Storage.Objects,
            };
            json["capacity"] = new JsonObject
            {
                ["used_bytes"] = Storage.UsedBytes,
                ["total_bytes"] = Storage.TotalBytes,
                ["stored_bytes"] = Storage.StoredBytes,
                ["nodes"] = new JsonArray(Storage.Nodes.Select(n => (JsonNode)n.ToJson()).ToArray()),
            };
        }
        return json;
    }

    public void Print(Output.Output output)
    {
        var console = output.Console;
        var color = Health switch { "HEALTH_OK" => "green", "HEALTH_WARN" => "yellow", _ => "red" };
        console.MarkupLine($"  cluster:  {Output.Output.Esc(Map?.ClusterName ?? "?")} (fsid {Output.Output.Esc(Map?.Fsid ?? "?")})");
        console.MarkupLine($"  health:   [{color}]{Health}[/]");
        foreach (var check in Checks) console.MarkupLine($"            {Output.Output.Esc(check.Code)}: {Output.Output.Esc(check.Message)}");
        console.MarkupLine("");
        if (Map is not null) console.MarkupLine($"  map:      epoch {Map.Epoch}");
        var active = Monitors.FirstOrDefault(m => m.Status?.Role == "active").Name;
        var monitorText = string.Join(", ", Monitors.Select(m => m.Status is null ? $"{m.Name} (unreachable)" : $"{m.Name} ({m.Status.Role})"));
        console.MarkupLine($"  mon:      {Monitors.Count} monitor(s), active {Output.Output.Esc(active ?? "none")}: {Output.Output.Esc(monitorText)}");
        if (Map is null) return;
        console.MarkupLine($"  nodes:    {Map.Nodes.Count} nodes: {Map.Nodes.Count(n => n.State == NodeState.Up)} up, {Map.Nodes.Count(n => n.In)} in");
        console.MarkupLine($"  data:     {Map.Pools.Count} pool(s), {Map.Volumes.Count} volume(s)");
        if (Storage is not null)
        {
            console.MarkupLine($"            {Storage.Objects} object(s), {Output.Units.Bytes(Storage.StoredBytes)} stored");
            console.MarkupLine($"  usage:    {Output.Units.Bytes(Storage.UsedBytes)} used of {Output.Units.Bytes(Storage.TotalBytes)}");
            console.MarkupLine($"  pgs:      {Output.Output.Esc(PgCommands.StatesText(Storage))}");
            if (Storage.DegradedObjects > 0) console.MarkupLine($"            {Storage.DegradedObjects}/{Storage.ObjectCopies} object copies degraded");
        }
        console.MarkupLine($"  network:  {Map.Networks.Count} network(s)");
        console.MarkupLine($"  vms:      {Map.Vms.Count} VM(s), {Map.Vms.Count(v => v.State == VmState.Running)} running");
    }
}
