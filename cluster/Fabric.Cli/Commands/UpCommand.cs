using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Cli.Local;
using Fabric.Config.Model;
using Fabric.Config.Plan;
using Fabric.Proto;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric up [FILE]`: brings the cluster of a config file up on this machine. Starts every node of the
/// file as a background process (state under $FABRIC_HOME: run/NODE.pid, log/NODE.log, data/NODE/),
/// waits until every node has joined, applies the file's pools, volumes, networks and VMs to the map,
/// and prints the status. Nodes that already run are left alone, so `up` is safe to repeat.
/// </summary>
public static class UpCommand
{
    public static Command Create(GlobalOptions globals)
    {
        var file = new Argument<string?>("FILE") { Description = "Cluster config (default: cluster.example.toml)", Arity = ArgumentArity.ZeroOrOne };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the nodes to join", DefaultValueFactory = _ => 90 };
        var vmTimeout = new Option<int>("--vm-timeout") { Description = "Seconds to wait for the file's VMs to run", DefaultValueFactory = _ => 240 };
        var up = new Command("up", "Start the nodes of a cluster config on this machine, apply its pools, volumes, networks and VMs");
        up.Arguments.Add(file);
        up.Options.Add(timeout);
        up.Options.Add(vmTimeout);
        globals.SetAction(up, async (parse, context, cancellationToken) =>
        {
            var path = parse.GetValue(file) ?? context.ConfigPathOption ?? DefaultConfig();
            var config = context.LoadConfig(path);
            Directory.CreateDirectory(context.Home);
            var homeCopy = Path.Combine(context.Home, CliContext.HomeCopyName);
            if (Path.GetFullPath(path) != homeCopy) File.Copy(path, homeCopy, overwrite: true);

            var processes = new LocalProcesses(context.Home);
            await EtcdProcess.EnsureAsync(config, processes, context.Out, cancellationToken).ConfigureAwait(false);

            var nodeDll = NodeBinary.Locate();
            var dotnet = NodeBinary.DotnetHost();
            var started = new List<string>();
            foreach (var node in config.Nodes)
            {
                if (processes.RunningPid(ProcessName(node)) is { } running)
                {
                    context.Out.Note($"node {node.Name} already runs (pid {running})");
                    continue;
                }
                var pid = processes.StartDetached(ProcessName(node), dotnet,
                    [nodeDll, "run", "--config", homeCopy, "--name", node.Name, "--home", context.Home]);
                started.Add(node.Name);
                context.Out.Note($"started node {node.Name} (pid {pid}, log {processes.LogFile(ProcessName(node))})");
            }

            using var monitors = new Fabric.Membership.Client.MonitorClient(
                config.Cluster.Monitors.Select(m => config.FindNode(m)!.Grpc.ToString()).ToList(), TimeSpan.FromSeconds(parse.GetValue(timeout)));
            var map = await WaitForNodesAsync(config, monitors, processes, context, TimeSpan.FromSeconds(parse.GetValue(timeout)), cancellationToken).ConfigureAwait(false);

            var plan = ConfigPlanner.Plan(config, map, PlanScope.Default);
            foreach (var error in plan.Errors) context.Out.Note("plan: " + error);
            if (plan.HasChanges)
            {
                context.Out.Note(plan.Render().TrimEnd());
                try
                {
                    var reply = await monitors.ProposeAsync(plan.ToTransaction(Guid.NewGuid().ToString("N"), $"fabric up {Path.GetFileName(path)}"), cancellationToken).ConfigureAwait(false);
                    context.Out.Note($"applied {plan.Changes.Count} change(s) from {Path.GetFileName(path)}: map epoch {reply.Epoch}");
                }
                catch (RpcException e)
                {
                    throw new CliException($"the nodes run, but applying {path} failed: {e.Detail}");
                }
            }

            var vms = await VmUp.StartAsync(config, monitors, context.Out, TimeSpan.FromSeconds(parse.GetValue(vmTimeout)), cancellationToken).ConfigureAwait(false);

            var report = await ClusterReport.GatherAsync(new CliContext(context.Json, homeCopy, context.Home, []), cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                var json = report.ToJson();
                json["started"] = new JsonArray(started.Select(s => (JsonNode)s).ToArray());
                json["home"] = context.Home;
                json["vms"] = VmUp.ToJson(vms);
                context.Out.WriteJson(json);
            }
            else
            {
                report.Print(context.Out);
                VmUp.Print(vms, context.Out);
            }
            // The cluster is up either way: a VM that did not start is reported (state and reason), not fatal.
            foreach (var failed in vms.Where(v => v.Error is not null && VmLauncher.QemuInstalled()))
            {
                context.Out.Note($"warning: VM {failed.Name} is not running: {failed.Error}");
            }
            return 0;
        });
        return up;
    }

    public static string ProcessName(NodeConfig node) => "node-" + node.Name;

    private static string DefaultConfig()
    {
        if (File.Exists("cluster.example.toml")) return "cluster.example.toml";
        if (CliContext.RepoRoot is { } root && File.Exists(Path.Combine(root, "cluster.example.toml"))) return Path.Combine(root, "cluster.example.toml");
        throw new CliException("no config file given and no cluster.example.toml here: fabric up FILE", CliException.Usage);
    }

    private static async Task<ClusterMap> WaitForNodesAsync(ClusterConfig config, Fabric.Membership.Client.MonitorClient monitors, LocalProcesses processes,
        CliContext context, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        var lastNote = "";
        while (true)
        {
            foreach (var node in config.Nodes)
            {
                if (processes.RunningPid(ProcessName(node)) is null)
                {
                    var log = processes.LogFile(ProcessName(node));
                    var tail = File.Exists(log) ? string.Join(Environment.NewLine, File.ReadLines(log).TakeLast(15)) : "(no log)";
                    throw new CliException($"node {node.Name} exited during start-up; the end of {log}:{Environment.NewLine}{tail}");
                }
            }
            try
            {
                var map = await monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
                var up = config.Nodes.Where(n => map.Nodes.Any(m => m.Name == n.Name && m.State == NodeState.Up)).Select(n => n.Name).ToList();
                if (up.Count == config.Nodes.Count) return map;
                var note = $"waiting for nodes: {up.Count}/{config.Nodes.Count} up";
                if (note != lastNote) context.Out.Note(lastNote = note);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                var note = "waiting for a monitor to answer";
                if (note != lastNote) context.Out.Note(lastNote = note);
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new CliException($"the nodes did not all join within {timeout.TotalSeconds:0} s; see the logs in {processes.LogDir}");
            }
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }
}
