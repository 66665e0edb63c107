using Fabric.Core.Map;
using Fabric.Core.Units;
using Fabric.Proto;

namespace Fabric.Core.Vm;

/// <summary>
/// VM scheduling: a pure function of the cluster map, so whoever proposes a start computes the same answer
/// from the same epoch, and the monitor's epoch check (base_epoch) makes two concurrent schedulers safe.
/// </summary>
/// <remarks>
/// Rules:
/// <list type="bullet">
/// <item>Every network of the VM's NICs must exist. Every node carries every network (VLANs on its uplink,
/// VXLAN over its data address), so networks do not narrow the choice of node.</item>
/// <item>A node's free memory is its <c>memory_bytes</c> (config <c>vm_memory</c>) minus the memory of the VMs
/// placed on it that are wanted running or still live there (starting, running, paused, stopping, migrating),
/// and of the VMs migrating to it. Stopped VMs hold nothing.</item>
/// <item>A pinned VM (spec.node, or a node asked for by the caller) goes there if that node is up and has the
/// memory; otherwise the VM goes to the up node with the most free memory that fits it (ties: lowest id).</item>
/// <item>vCPUs are overcommitted freely (QEMU threads share the host's CPUs).</item>
/// </list>
/// </remarks>
public static class VmPlacement
{
    /// <summary>States in which a VM's QEMU exists (or is about to) on its node.</summary>
    public static bool IsLive(VmState state) =>
        state is VmState.Starting or VmState.Running or VmState.Paused or VmState.Stopping or VmState.Migrating;

    /// <summary>Memory held on <paramref name="nodeId"/> by the VMs placed there (not counting <paramref name="excludeVm"/>).</summary>
    public static ulong UsedMemoryBytes(ClusterMap map, uint nodeId, string? excludeVm = null)
    {
        ulong used = 0;
        foreach (var vm in map.Vms)
        {
            if (excludeVm is not null && vm.Spec.Name == excludeVm) continue;
            var holds = (vm.NodeId == nodeId && (vm.WantRunning || IsLive(vm.State))) || (vm.MigratingTo == nodeId && vm.MigratingTo != 0);
            if (holds) used += vm.Spec.MemoryBytes;
        }
        return used;
    }

    public static ulong FreeMemoryBytes(ClusterMap map, NodeInfo node, string? excludeVm = null)
    {
        var used = UsedMemoryBytes(map, node.Id, excludeVm);
        return used >= node.MemoryBytes ? 0 : node.MemoryBytes - used;
    }

    /// <summary>
    /// Chooses the node for <paramref name="spec"/>: <paramref name="requestedNode"/> when given, else the
    /// spec's pinned node, else the scheduler's pick. The VM's own current reservation (a VM of the same name
    /// already in the map) is not counted against it.
    /// </summary>
    public static VmPlacementResult Choose(ClusterMap map, VmSpec spec, string? requestedNode = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(spec);
        foreach (var nic in spec.Nics)
        {
            if (map.FindNetwork(nic.Network) is null)
            {
                return VmPlacementResult.Refused($"VM {spec.Name}: network {nic.Network} does not exist (fabric net list shows the networks; define it in a [[network]] table and apply it)");
            }
        }
        var need = spec.MemoryBytes;
        var pinned = string.IsNullOrEmpty(requestedNode) ? spec.Node : requestedNode;
        if (!string.IsNullOrEmpty(pinned))
        {
            var node = map.FindNode(pinned);
            if (node is null) return VmPlacementResult.Refused($"VM {spec.Name}: node {pinned} is not in the cluster (fabric node list shows the nodes)");
            if (node.State != NodeState.Up) return VmPlacementResult.Refused($"VM {spec.Name}: node {pinned} is down; start it, or choose another node");
            if (node.MemoryBytes == 0) return VmPlacementResult.Refused($"VM {spec.Name}: node {pinned} offers no memory for VMs (vm_memory in its [[node]] table)");
            var free = FreeMemoryBytes(map, node, spec.Name);
            if (free < need)
            {
                return VmPlacementResult.Refused($"VM {spec.Name} needs {Human(need)}; node {pinned} has {Human(free)} free (of {Human(node.MemoryBytes)})");
            }
            return VmPlacementResult.On(node);
        }

        NodeInfo? best = null;
        ulong bestFree = 0;
        foreach (var node in map.Nodes)
        {
            if (node.State != NodeState.Up || node.MemoryBytes == 0) continue;
            var free = FreeMemoryBytes(map, node, spec.Name);
            if (best is null || free > bestFree || (free == bestFree && node.Id < best.Id))
            {
                best = node;
                bestFree = free;
            }
        }
        if (best is null) return VmPlacementResult.Refused($"VM {spec.Name}: no node that is up offers memory for VMs (vm_memory in [[node]] tables)");
        if (bestFree < need)
        {
            return VmPlacementResult.Refused($"VM {spec.Name} needs {Human(need)}; the most free memory on any node is {Human(bestFree)} ({best.Name})");
        }
        return VmPlacementResult.On(best);
    }

    private static string Human(ulong bytes) => bytes > long.MaxValue ? $"{bytes} B" : new ByteSize((long)bytes).ToHumanString();
}
