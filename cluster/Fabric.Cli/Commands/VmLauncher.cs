using Fabric.Core.Map;
using Fabric.Core.Vm;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands;

/// <summary>
/// Starting VMs from the CLI: the scheduling decision is made here, from the newest map, and proposed with
/// that map's epoch as the transaction's base (a concurrent change makes the monitor refuse it as stale, and
/// the start is decided again on the newer map). The nodes only follow the map: a start is
/// <c>node_id = N, want_running = true, generation + 1</c>; node N's reconciler starts QEMU and reports the
/// state back. Every check that can refuse a VM runs before anything is proposed, so a refused start or
/// create leaves the map as it was.
/// </summary>
/// <remarks>
/// Why the CLI and not a scheduler on the active monitor's node: placement is a pure function of the map
/// (<see cref="VmPlacement"/>), the epoch check makes concurrent proposers safe, the refusal reaches the user
/// synchronously with its reason, and the monitor stays a map store that validates transactions.
/// </remarks>
public static class VmLauncher
{
    private const int MaxAttempts = 6;

    /// <summary>Why <paramref name="spec"/>'s writable disks cannot be used now (missing, or locked by someone else), or null.</summary>
    public static string? DiskConflict(ClusterMap map, VmSpec spec)
    {
        foreach (var disk in spec.Disks)
        {
            var volume = map.FindVolume(disk.Volume);
            if (volume is null) return $"VM {spec.Name}: volume {disk.Volume} does not exist (fabric volume create {disk.Volume} --size ...)";
            if (disk.ReadOnly) continue;
            if (volume.Lock is { Owner.Length: > 0 } held)
            {
                var node = map.FindNode(held.NodeId);
                var user = held.Description.Length > 0 ? held.Description : "its holder";
                return $"VM {spec.Name}: volume {disk.Volume} is in use: its exclusive lock is held by {held.Owner} for {user}" +
                    $"{(node is null ? "" : $" on node {node.Name}")} (stop {user} first, or attach the volume read-only)";
            }
            foreach (var other in map.VmsUsingVolume(disk.Volume))
            {
                if (other.Spec.Name == spec.Name) continue;
                var shared = other.Spec.Disks.First(d => d.Volume == disk.Volume);
                if (!shared.ReadOnly && (other.WantRunning || VmPlacement.IsLive(other.State)))
                {
                    return $"VM {spec.Name}: volume {disk.Volume} is a disk of VM {other.Spec.Name}, which is {other.State.StateText()}; stop it first";
                }
            }
        }
        return null;
    }

    /// <summary>The changes that start an existing VM on <paramref name="node"/> (generation + 1).</summary>
    public static MapChange StartChange(VmInfo vm, NodeInfo node, VmSpec? newSpec = null)
    {
        var update = new VmUpdate
        {
            Name = vm.Spec.Name,
            NodeId = node.Id,
            WantRunning = true,
            State = VmState.Starting,
            StateReason = $"start requested on {node.Name}",
            BumpGeneration = true,
            ExpectGeneration = vm.Generation,
        };
        update.Fields.Add("node_id");
        update.Fields.Add("want_running");
        update.Fields.Add("state");
        if (newSpec is not null)
        {
            update.Fields.Add("spec");
            update.Spec = newSpec;
        }
        return new MapChange { VmUpdate = update };
    }

    /// <summary>A started VM: where, and the generation of this run.</summary>
    public sealed record Started(string Name, string Node, ulong Generation, bool WasRunning);

    /// <summary>
    /// Places and starts an existing VM. <paramref name="requestedNode"/> overrides the scheduler (and the
    /// spec's pinned node, which then moves with it). Refusals throw <see cref="CliException"/>.
    /// </summary>
    public static async Task<Started> StartAsync(MonitorClient monitors, string name, string? requestedNode, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var map = await monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
            var vm = map.FindVm(name) ?? throw new CliException($"VM {name} does not exist (fabric vm list shows the VMs)");
            var current = map.FindNode(vm.NodeId);
            if (vm.WantRunning && current is { State: NodeState.Up } && vm.State != VmState.Crashed && (requestedNode is null || current.Name == requestedNode))
            {
                // Wanted on a node that is up: that node runs it (or is starting it, e.g. after `fabric down` and `up`).
                return new Started(name, current.Name, vm.Generation, WasRunning: VmPlacement.IsLive(vm.State));
            }
            if (VmPlacement.IsLive(vm.State) && current is { State: NodeState.Up })
            {
                throw new CliException($"VM {name} is {vm.State.StateText()} on node {current.Name}; stop it first (fabric vm stop {name})");
            }
            if (VmPlacement.IsLive(vm.State))
            {
                throw new CliException($"VM {name} is {vm.State.StateText()} on node {current?.Name ?? "(none)"}, which is down; `fabric vm stop {name}` marks it stopped, then start it elsewhere");
            }
            if (DiskConflict(map, vm.Spec) is { } conflict) throw new CliException(conflict);
            var placement = VmPlacement.Choose(map, vm.Spec, requestedNode);
            if (!placement.Ok) throw new CliException(placement.Error!);
            VmSpec? spec = null;
            if (vm.Spec.Node.Length > 0 && vm.Spec.Node != placement.Node!.Name)
            {
                spec = vm.Spec.Clone();
                spec.Node = placement.Node.Name;
            }
            var tx = new MapTransaction { BaseEpoch = map.Epoch, Reason = $"start VM {name} on {placement.Node!.Name}" };
            tx.Changes.Add(StartChange(vm, placement.Node, spec));
            try
            {
                await monitors.ProposeAsync(tx, cancellationToken).ConfigureAwait(false);
                return new Started(name, placement.Node.Name, vm.Generation + 1, WasRunning: false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Aborted && attempt < MaxAttempts)
            {
                // The map moved on since it was read: decide again on the newer one.
            }
            catch (RpcException e)
            {
                throw new CliException(e.Detail, e.StatusCode == StatusCode.InvalidArgument ? CliException.Usage : CliException.Failed);
            }
        }
    }

    /// <summary>Waits until the VM's run <paramref name="generation"/> is running; refusals and timeouts throw.</summary>
    public static async Task<VmInfo> WaitRunningAsync(MonitorClient monitors, string name, ulong generation, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var map = await monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
            var vm = map.FindVm(name) ?? throw new CliException($"VM {name} was removed while it was starting");
            var node = map.FindNode(vm.NodeId)?.Name ?? "?";
            if (vm.Generation == generation)
            {
                if (vm.State == VmState.Running) return vm;
                if (vm.State is VmState.Stopped or VmState.Crashed)
                {
                    throw new CliException($"VM {name} did not start on node {node}: {vm.State.StateText()}: {vm.StateReason}");
                }
            }
            else if (vm.Generation > generation)
            {
                throw new CliException($"VM {name} was restarted by another request meanwhile (generation {vm.Generation}); see fabric vm show {name}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new CliException($"VM {name} is not running on node {node} after {timeout.TotalSeconds:0} s: {vm.State.StateText()} ({vm.StateReason}); see fabric vm show {name}");
            }
            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until the map shows the VM stopped (or crashed), bounded.</summary>
    public static async Task<VmInfo?> WaitStoppedAsync(MonitorClient monitors, string name, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var map = await monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
            var vm = map.FindVm(name);
            if (vm is null || !VmPlacement.IsLive(vm.State)) return vm;
            if (DateTime.UtcNow > deadline) return vm;
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True when QEMU can run on this machine (what `fabric up` checks before it starts VMs).</summary>
    public static bool QemuInstalled() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, "qemu-system-x86_64")));
}
