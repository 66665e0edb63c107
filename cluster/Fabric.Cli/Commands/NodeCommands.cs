using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Cli.Local;
using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Fabric.Cli.Output;
using Spectre.Console;

namespace Fabric.Cli.Commands;

/// <summary>`fabric node list|show|out|in|run`.</summary>
public static class NodeCommands
{
    private static readonly RpcMethod<NodeStatusRequest, NodeStatus> GetNodeStatus =
        RpcMethod.From<NodeStatusRequest, NodeStatus>(NodeReflection.Descriptor, "fabric.NodeAdmin", "GetNodeStatus");

    public static Command Create(GlobalOptions globals)
    {
        var node = new Command("node", "Nodes of the cluster: list, show, mark out/in, run the daemon");

        var list = new Command("list", "Every node that joined: id, state (up/down), in/out, addresses");
        globals.SetAction(list, async (_, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonArray(map.Nodes.Select(n => (JsonNode)NodeJson(n)).ToArray()));
                return 0;
            }
            var table = Output.Output.Table("name", "id", "state", "in", "grpc", "data", "failure domain", "capacity", "memory", "incarnation", "reason");
            foreach (var n in map.Nodes)
            {
                table.AddRow(Output.Output.Esc(n.Name), n.Id.ToString(), n.State == NodeState.Up ? "[green]up[/]" : "[red]down[/]", n.In ? "in" : "out",
                    Output.Output.Esc(n.GrpcAddress), Output.Output.Esc(n.DataAddress), Output.Output.Esc(n.FailureDomain),
                    Units.Bytes(n.CapacityBytes), Units.Bytes(n.MemoryBytes), n.Incarnation.ToString(), Output.Output.Esc(n.StateReason));
            }
            context.Out.Write(table);
            context.Out.Line($"map epoch {map.Epoch}");
            return 0;
        });
        node.Subcommands.Add(list);

        var showName = new Argument<string>("NODE") { Description = "Node name" };
        var show = new Command("show", "One node: its map entry and what the node itself reports");
        show.Arguments.Add(showName);
        globals.SetAction(show, async (parse, context, cancellationToken) =>
        {
            var name = parse.GetValue(showName)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var info = map.FindNode(name) ?? throw new CliException($"node {name} is not in the cluster (fabric node list shows the nodes)");
            NodeStatus? live = null;
            string? liveError = null;
            try
            {
                using var channel = new RpcChannel(info.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(1) });
                live = await channel.UnaryAsync(GetNodeStatus, new NodeStatusRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(3), cancellationToken)).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                liveError = e.Detail;
            }
            if (context.Json)
            {
                var json = NodeJson(info);
                json["reachable"] = live is not null;
                if (live is not null)
                {
                    json["pid"] = live.Pid;
                    json["version"] = live.Version;
                    json["uptime_ms"] = live.UptimeMs;
                    json["map_epoch"] = live.MapEpoch;
                    json["rss_bytes"] = live.RssBytes;
                    json["data_dir"] = live.DataDir;
                    json["subsystems"] = new JsonArray(live.Subsystems.Select(s => (JsonNode)new JsonObject { ["name"] = s.Name, ["state"] = s.State, ["detail"] = s.Detail }).ToArray());
                }
                else
                {
                    json["error"] = liveError;
                }
                context.Out.WriteJson(json);
                return 0;
            }
            var o = context.Out;
            o.Line($"node {info.Name} (id {info.Id}, incarnation {info.Incarnation})");
            o.Line($"  state:          {info.State.StateText()}, {(info.In ? "in" : "out")}{(info.StateReason.Length > 0 ? $" ({info.StateReason})" : "")}");
            o.Line($"  grpc:           {info.GrpcAddress}");
            o.Line($"  data:           {info.DataAddress} (storage {info.StorageAddress})");
            o.Line($"  failure domain: {info.FailureDomain} (weight {info.Weight:0.###})");
            o.Line($"  capacity:       {Units.Bytes(info.CapacityBytes)}; for VMs {Units.Bytes(info.MemoryBytes)} memory, {info.Cpus} vCPUs");
            if (live is null)
            {
                o.Line($"  live status:    unreachable ({liveError})");
                return 0;
            }
            o.Line($"  process:        pid {live.Pid}, version {live.Version}, up {TimeSpan.FromMilliseconds(live.UptimeMs):d\\.hh\\:mm\\:ss}, RSS {Units.Bytes(live.RssBytes)}");
            o.Line($"  map epoch seen: {live.MapEpoch}");
            o.Line($"  data dir:       {live.DataDir}");
            foreach (var s in live.Subsystems) o.Line($"  {s.Name + ":",-15} {s.State}{(s.Detail.Length > 0 ? " (" + s.Detail + ")" : "")}");
            return 0;
        });
        node.Subcommands.Add(show);

        node.Subcommands.Add(InOut(globals, "out", false, "Mark a node out: its data is re-placed on the others (stays out until `fabric node in`)"));
        node.Subcommands.Add(InOut(globals, "in", true, "Mark a node in: it holds data again"));

        var runName = new Option<string>("--name") { Description = "This node's [[node]] name", Required = true };
        var run = new Command("run", "Run the node daemon in the foreground (what `fabric up` starts in the background)");
        run.Options.Add(runName);
        // --config is a global option already; `node run` requires it.
        globals.SetAction(run, async (parse, context, cancellationToken) =>
        {
            var config = parse.GetValue(globals.Config) ?? throw new CliException("node run needs --config FILE", CliException.Usage);
            var name = parse.GetValue(runName)!;
            var start = new ProcessStartInfo(NodeBinary.DotnetHost()) { UseShellExecute = false };
            start.ArgumentList.Add(NodeBinary.Locate());
            foreach (var arg in new[] { "run", "--config", config, "--name", name, "--home", context.Home }) start.ArgumentList.Add(arg);
            using var process = Process.Start(start) ?? throw new CliException("could not start the node daemon");
            using var forward = cancellationToken.Register(() =>
            {
                try { Posix.Terminate(process.Id); } catch (InvalidOperationException) { }
            });
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            return process.ExitCode;
        });
        node.Subcommands.Add(run);
        node.Subcommands.Add(NodeDrain.Command(globals));
        return node;
    }

    private static Command InOut(GlobalOptions globals, string verb, bool markIn, string description)
    {
        var name = new Argument<string>("NODE") { Description = "Node name" };
        var command = new Command(verb, description);
        command.Arguments.Add(name);
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var nodeName = parse.GetValue(name)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var info = map.FindNode(nodeName) ?? throw new CliException($"node {nodeName} is not in the cluster (fabric node list shows the nodes)");
            var epoch = await context.ApplyAsync($"operator marked node {nodeName} {verb}", cancellationToken,
                new MapChange { NodeInOut = new NodeInOut { NodeId = info.Id, In = markIn, ByOperator = true, Reason = $"marked {verb} by operator" } }).ConfigureAwait(false);
            if (context.Json) context.Out.WriteJson(new JsonObject { ["node"] = nodeName, ["in"] = markIn, ["epoch"] = epoch });
            else context.Out.Line($"node {nodeName} marked {verb} (map epoch {epoch})");
            return 0;
        });
        return command;
    }

    public static JsonObject NodeJson(NodeInfo n) => new()
    {
        ["name"] = n.Name,
        ["id"] = n.Id,
        ["state"] = n.State.StateText(),
        ["in"] = n.In,
        ["grpc_address"] = n.GrpcAddress,
        ["data_address"] = n.DataAddress,
        ["storage_address"] = n.StorageAddress,
        ["failure_domain"] = n.FailureDomain,
        ["capacity_bytes"] = n.CapacityBytes,
        ["memory_bytes"] = n.MemoryBytes,
        ["cpus"] = n.Cpus,
        ["weight"] = n.Weight,
        ["incarnation"] = n.Incarnation,
        ["state_reason"] = n.StateReason,
        ["identity"] = n.Identity(),
    };
}
