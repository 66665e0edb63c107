using System.Text.Json.Nodes;
using Fabric.Config.Model;
using Fabric.Core.Map;
using Fabric.Membership.Client;

namespace Fabric.Cli.Commands;

/// <summary>
/// The VM step of `fabric up`: every VM of the file that is not wanted running yet is placed and started
/// (like `fabric vm start`, one at a time so each placement sees the previous ones), then up waits, bounded,
/// until they run, and reports each VM's node and state. Without QEMU on this machine the VMs stay defined
/// and up says how to install it. A VM that does not start is reported with its reason; up still succeeds
/// (the cluster is up; `fabric vm list` shows the VM).
/// </summary>
public static class VmUp
{
    public sealed record Outcome(string Name, string? Node, string State, string? Error);

    public static async Task<IReadOnlyList<Outcome>> StartAsync(ClusterConfig config, MonitorClient monitors, Output.Output output, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (config.Vms.Count == 0) return [];
        if (!VmLauncher.QemuInstalled())
        {
            output.Note("QEMU is not installed on this machine: the VMs are defined but not started. Install it (apt-get install qemu-system-x86 qemu-utils) and run fabric up again.");
            return config.Vms.Select(v => new Outcome(v.Name, null, "defined", "QEMU is not installed (apt-get install qemu-system-x86 qemu-utils)")).ToList();
        }
        var starts = new List<(string Name, VmLauncher.Started? Started, string? Error)>();
        foreach (var vm in config.Vms)
        {
            try
            {
                var started = await VmLauncher.StartAsync(monitors, vm.Name, null, cancellationToken).ConfigureAwait(false);
                if (!started.WasRunning) output.Note($"starting VM {vm.Name} on {started.Node}");
                starts.Add((vm.Name, started, null));
            }
            catch (CliException e)
            {
                starts.Add((vm.Name, null, e.Message));
            }
        }
        var waits = starts.Select(async s =>
        {
            if (s.Started is null) return new Outcome(s.Name, null, "defined", s.Error);
            try
            {
                var info = await VmLauncher.WaitRunningAsync(monitors, s.Name, s.Started.Generation, timeout, cancellationToken).ConfigureAwait(false);
                return new Outcome(s.Name, s.Started.Node, info.State.StateText(), null);
            }
            catch (CliException e)
            {
                var map = await monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
                return new Outcome(s.Name, s.Started.Node, map.FindVm(s.Name)?.State.StateText() ?? "gone", e.Message);
            }
        });
        return await Task.WhenAll(waits).ConfigureAwait(false);
    }

    public static JsonArray ToJson(IReadOnlyList<Outcome> outcomes) =>
        new(outcomes.Select(o => (JsonNode)new JsonObject { ["name"] = o.Name, ["node"] = o.Node, ["state"] = o.State, ["error"] = o.Error }).ToArray());

    public static void Print(IReadOnlyList<Outcome> outcomes, Output.Output output)
    {
        foreach (var o in outcomes)
        {
            output.Line($"vm {o.Name}: {o.State}{(o.Node is null ? "" : " on " + o.Node)}{(o.Error is null ? "" : " - " + o.Error)}");
        }
    }
}
