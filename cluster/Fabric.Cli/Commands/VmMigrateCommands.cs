using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Cli.Output;
using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;
using Spectre.Console;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric vm migrate VM [--to NODE] [--downtime-ms N] [--bandwidth MiB/s] [--postcopy] [--auto-converge]`,
/// `fabric vm migrate --cancel VM` and `fabric vm migrations`. The source node runs the migration (VmAgent
/// Migrate, node/Fabric.Node/Vms/VmMigrations.cs); the CLI shows its progress and report. Leaving the CLI does
/// not stop a migration: `--cancel` does.
/// </summary>
public static class VmMigrateCommands
{
    public static Command MigrateCommand(GlobalOptions globals)
    {
        var name = new Argument<string>("VM") { Description = "VM name" };
        var to = new Option<string?>("--to") { Description = "Destination node (default: the scheduler picks the up node with the most free memory)" };
        var downtime = new Option<uint>("--downtime-ms") { Description = "The longest pause QEMU may plan for the final copy", DefaultValueFactory = _ => 300 };
        var bandwidth = new Option<ulong>("--bandwidth") { Description = "Bandwidth cap in MiB/s (default: none)" };
        var postcopy = new Option<bool>("--postcopy") { Description = "Switch to post-copy after the first full pass" };
        var autoConverge = new Option<bool>("--auto-converge") { Description = "Throttle the guest's vCPUs when it dirties memory faster than the link" };
        var cancel = new Option<bool>("--cancel") { Description = "Cancel the running migration of VM (it stays on its node)" };
        var command = new Command("migrate", "Live-migrate a running VM to another node (its disks and NICs follow)");
        command.Arguments.Add(name);
        foreach (var o in new Option[] { to, downtime, bandwidth, postcopy, autoConverge, cancel }) command.Options.Add(o);
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var vmName = parse.GetValue(name)!;
            if (parse.GetValue(cancel))
            {
                var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
                var vm = map.FindVm(vmName) ?? throw new CliException($"VM {vmName} does not exist (fabric vm list shows the VMs)");
                var node = map.FindNode(vm.NodeId) ?? throw new CliException($"VM {vmName} is not placed on a node");
                using var agent = new VmAgentClient(node);
                var reply = await agent.CancelMigrationAsync(vmName, cancellationToken).ConfigureAwait(false);
                if (!reply.Ok) throw new CliException($"cancelling the migration of VM {vmName}: {reply.Error}");
                if (context.Json) context.Out.WriteJson(new JsonObject { ["name"] = vmName, ["node"] = node.Name, ["cancelled"] = true });
                else context.Out.Line($"migration of VM {vmName} cancelled; it stays on {node.Name}");
                return 0;
            }
            var request = new MigrateRequest
            {
                Name = vmName,
                To = parse.GetValue(to) ?? "",
                DowntimeLimitMs = parse.GetValue(downtime),
                BandwidthMibps = parse.GetValue(bandwidth),
                Postcopy = parse.GetValue(postcopy),
                AutoConverge = parse.GetValue(autoConverge),
                Reason = "operator",
            };
            var report = await MigrateAsync(context, request, cancellationToken).ConfigureAwait(false);
            if (context.Json) context.Out.WriteJson(ReportJson(vmName, report));
            else context.Out.Line(Describe(vmName, report));
            return report.Outcome == "completed" ? 0 : 1;
        });
        return command;
    }

    /// <summary>Runs one migration through its source node, with a progress line on stderr for people.</summary>
    public static async Task<MigrationReportInfo> MigrateAsync(CliContext context, MigrateRequest request, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        var vm = map.FindVm(request.Name) ?? throw new CliException($"VM {request.Name} does not exist (fabric vm list shows the VMs)");
        var node = map.FindNode(vm.NodeId);
        if (node is null || vm.State is not (VmState.Running or VmState.Paused or VmState.Migrating))
        {
            throw new CliException($"VM {request.Name} is {vm.State.StateText()}: only a running VM migrates (fabric vm start {request.Name})");
        }
        if (node.State != NodeState.Up) throw new CliException($"VM {request.Name} is on node {node.Name}, which is down: it cannot migrate live");
        using var agent = new VmAgentClient(node);
        using var call = agent.MigrateAsync(request, cancellationToken);
        var bar = new ProgressLine(context.Json);
        MigrationReportInfo? report = null;
        try
        {
            await foreach (var e in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                switch (e.Phase)
                {
                    case "prepared":
                        bar.Note($"migrating VM {request.Name}: {e.From} -> {e.To} ({e.Message})");
                        break;
                    case "progress":
                        bar.Show(e.Progress);
                        break;
                    case "switchover":
                        bar.Note($"switch-over: locks and ports moved to {e.To} ({e.Message})");
                        break;
                    case "report":
                        report = e.Report;
                        break;
                }
            }
        }
        catch (RpcException e) when (VmAgentClient.IsUnreachable(e))
        {
            throw new CliException($"node {node.Name} stopped answering during the migration of VM {request.Name} ({e.Detail}); `fabric vm list` shows where it runs");
        }
        bar.End();
        return report ?? throw new CliException($"node {node.Name} ended the migration of VM {request.Name} without a report; `fabric vm migrations` shows it");
    }

    public static JsonObject ReportJson(string vm, MigrationReportInfo r) => new()
    {
        ["name"] = vm,
        ["outcome"] = r.Outcome,
        ["error"] = r.Error.Length > 0 ? r.Error : null,
        ["node"] = r.Node,
        ["total_time_ms"] = r.TotalTimeMs,
        ["downtime_ms"] = r.DowntimeMs >= 0 ? r.DowntimeMs : null,
        ["setup_time_ms"] = r.SetupTimeMs,
        ["transferred_bytes"] = r.TransferredBytes,
        ["passes"] = r.Passes,
        ["postcopy"] = r.Postcopy,
        ["switchover_ms"] = r.SwitchoverMs,
        ["stop_ms"] = r.StopMs,
        ["final_pass_ms"] = r.FinalPassMs,
        ["resume_wait_ms"] = r.ResumeWaitMs,
    };

    public static string Describe(string vm, MigrationReportInfo r) => r.Outcome == "completed"
        ? $"VM {vm} migrated to {r.Node}: total {r.TotalTimeMs} ms, downtime {(r.DowntimeMs >= 0 ? r.DowntimeMs + " ms" : "?")} (QEMU), " +
          $"{Units.Bytes(r.TransferredBytes)} in {r.Passes} passes{(r.Postcopy ? " (post-copy)" : "")}, switch-over {r.SwitchoverMs} ms" +
          (r.ResumeWaitMs > 0 ? $", the destination waited {r.ResumeWaitMs} ms more for its takeover" : "")
        : $"VM {vm} not migrated ({r.Outcome}): {r.Error}; it runs on {(r.Node.Length > 0 ? r.Node : "its node")}";

    /// <summary>The progress bar: rewritten in place on a terminal, one line a second otherwise.</summary>
    private sealed class ProgressLine(bool quiet)
    {
        private readonly bool _tty = !Console.IsErrorRedirected;
        private DateTime _last = DateTime.MinValue;
        private bool _open;

        public void Note(string text)
        {
            if (quiet) return;
            End();
            Console.Error.WriteLine(text);
        }

        public void Show(MigrationProgressInfo p)
        {
            if (quiet) return;
            if (!_tty && DateTime.UtcNow - _last < TimeSpan.FromSeconds(1)) return;
            _last = DateTime.UtcNow;
            var done = p.TotalBytes > 0 ? Math.Clamp((double)(p.TotalBytes - p.RemainingBytes) / p.TotalBytes, 0, 1) : 0;
            const int width = 24;
            var filled = (int)(done * width);
            var line = $"[{new string('#', filled)}{new string('.', width - filled)}] {p.Status,-14} sent {Units.Bytes(p.TransferredBytes)}, " +
                $"remaining {Units.Bytes(p.RemainingBytes)}, dirty {Units.Bytes(p.DirtyRateBytesPerSecond)}/s, " +
                $"expected downtime {(p.ExpectedDowntimeMs >= 0 ? p.ExpectedDowntimeMs + " ms" : "?")}, pass {p.Pass}, {p.ElapsedMs / 1000.0:0.0} s";
            if (_tty)
            {
                Console.Error.Write("\r" + line.PadRight(Math.Max(line.Length, 120)));
                _open = true;
            }
            else
            {
                Console.Error.WriteLine(line);
            }
        }

        public void End()
        {
            if (_open) Console.Error.WriteLine();
            _open = false;
        }
    }

    // ---- migrations ----

    public static Command MigrationsCommand(GlobalOptions globals)
    {
        var command = new Command("migrations", "Running and recent live migrations (asked of every up node)");
        globals.SetAction(command, async (_, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var rows = new List<MigrationRecord>();
            var errors = new List<string>();
            foreach (var node in map.Nodes.Where(n => n.State == NodeState.Up))
            {
                try
                {
                    using var agent = new VmAgentClient(node);
                    rows.AddRange((await agent.ListMigrationsAsync(cancellationToken).ConfigureAwait(false)).Migrations);
                }
                catch (RpcException e)
                {
                    errors.Add($"node {node.Name}: {e.Detail}");
                }
            }
            var ordered = rows.OrderBy(r => r.EndedUnixMs == 0 ? 0 : 1).ThenByDescending(r => r.StartedUnixMs).ToList();
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["migrations"] = new JsonArray(ordered.Select(r => (JsonNode)RecordJson(r)).ToArray()),
                    ["errors"] = new JsonArray(errors.Select(e => (JsonNode)e).ToArray()),
                });
                return 0;
            }
            var table = Output.Output.Table("vm", "from", "to", "reason", "started", "state", "sent", "remaining", "total", "downtime", "error");
            foreach (var r in ordered)
            {
                var running = r.EndedUnixMs == 0;
                table.AddRow(Output.Output.Esc(r.Name), Output.Output.Esc(r.From), Output.Output.Esc(r.To), Output.Output.Esc(r.Reason),
                    DateTimeOffset.FromUnixTimeMilliseconds(r.StartedUnixMs).ToLocalTime().ToString("HH:mm:ss"),
                    running ? $"[yellow]{Output.Output.Esc(r.Progress?.Status ?? "starting")}[/]" : (r.Report?.Outcome == "completed" ? "[green]completed[/]" : $"[red]{Output.Output.Esc(r.Report?.Outcome)}[/]"),
                    r.Progress is { } p ? Units.Bytes(p.TransferredBytes) : "-", r.Progress is { } q ? Units.Bytes(q.RemainingBytes) : "-",
                    r.Report is { } t ? $"{t.TotalTimeMs} ms" : "-", r.Report is { DowntimeMs: >= 0 } d ? $"{d.DowntimeMs} ms" : "-", Output.Output.Esc(r.Report?.Error));
            }
            context.Out.Write(table);
            foreach (var e in errors) context.Out.Note(e);
            return 0;
        });
        return command;
    }

    public static JsonObject RecordJson(MigrationRecord r) => new()
    {
        ["name"] = r.Name,
        ["from"] = r.From,
        ["to"] = r.To,
        ["reason"] = r.Reason,
        ["started_unix_ms"] = r.StartedUnixMs,
        ["ended_unix_ms"] = r.EndedUnixMs == 0 ? null : r.EndedUnixMs,
        ["running"] = r.EndedUnixMs == 0,
        ["status"] = r.Progress?.Status,
        ["transferred_bytes"] = r.Progress?.TransferredBytes,
        ["remaining_bytes"] = r.Progress?.RemainingBytes,
        ["total_bytes"] = r.Progress?.TotalBytes,
        ["report"] = r.Report is { } report ? ReportJson(r.Name, report) : null,
    };
}
