using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric node drain NODE`: live-migrates every VM running on NODE to the node the scheduler picks for it,
/// one at a time (each with its progress line), for maintenance. A VM that cannot move is reported and the
/// drain goes on with the others; the exit code says whether the node ended empty.
/// </summary>
public static class NodeDrain
{
    public static Command Command(GlobalOptions globals)
    {
        var name = new Argument<string>("NODE") { Description = "Node name" };
        var downtime = new Option<uint>("--downtime-ms") { Description = "Downtime limit of each migration", DefaultValueFactory = _ => 300 };
        var bandwidth = new Option<ulong>("--bandwidth") { Description = "Bandwidth cap of each migration in MiB/s (default: none)" };
        var command = new Command("drain", "Live-migrate every VM off a node (for maintenance)");
        command.Arguments.Add(name);
        command.Options.Add(downtime);
        command.Options.Add(bandwidth);
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var nodeName = parse.GetValue(name)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var node = map.FindNode(nodeName) ?? throw new CliException($"node {nodeName} is not in the cluster (fabric node list shows the nodes)");
            var vms = map.Vms.Where(v => v.NodeId == node.Id && v.State is VmState.Running or VmState.Paused).Select(v => v.Spec.Name).ToList();
            var results = new JsonArray();
            var failed = 0;
            for (var i = 0; i < vms.Count; i++)
            {
                if (!context.Json) context.Out.Note($"[{i + 1}/{vms.Count}] VM {vms[i]}");
                var report = await VmMigrateCommands.MigrateAsync(context, new MigrateRequest
                {
                    Name = vms[i], DowntimeLimitMs = parse.GetValue(downtime), BandwidthMibps = parse.GetValue(bandwidth), Reason = $"drain {nodeName}",
                }, cancellationToken).ConfigureAwait(false);
                if (report.Outcome != "completed") failed++;
                results.Add(VmMigrateCommands.ReportJson(vms[i], report));
                if (!context.Json) context.Out.Line(VmMigrateCommands.Describe(vms[i], report));
            }
            var after = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var left = after.Vms.Where(v => v.NodeId == node.Id && VmPlacementLive(v.State)).Select(v => v.Spec.Name).ToList();
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["node"] = nodeName, ["migrations"] = results, ["left"] = new JsonArray(left.Select(v => (JsonNode)v).ToArray()),
                });
            }
            else
            {
                context.Out.Line(left.Count == 0
                    ? $"node {nodeName} is drained ({vms.Count} VM{(vms.Count == 1 ? "" : "s")} moved)"
                    : $"node {nodeName} still runs {string.Join(", ", left)} ({failed} migration{(failed == 1 ? "" : "s")} failed)");
            }
            return left.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static bool VmPlacementLive(VmState state) => Fabric.Core.Vm.VmPlacement.IsLive(state);
}
