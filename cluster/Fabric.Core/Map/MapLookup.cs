using Fabric.Proto;

namespace Fabric.Core.Map;

/// <summary>Read-only lookups over a cluster map. Maps are small (nodes, pools, volumes, VMs in the
/// thousands at most), so a scan is fine for control-plane work; data paths keep their own indexes.</summary>
public static class MapLookup
{
    public static NodeInfo? FindNode(this ClusterMap map, string name)
    {
        foreach (var node in map.Nodes)
        {
            if (node.Name == name) return node;
        }
        return null;
    }

    public static NodeInfo? FindNode(this ClusterMap map, uint id)
    {
        foreach (var node in map.Nodes)
        {
            if (node.Id == id) return node;
        }
        return null;
    }

    public static PoolInfo? FindPool(this ClusterMap map, string name)
    {
        foreach (var pool in map.Pools)
        {
            if (pool.Name == name) return pool;
        }
        return null;
    }

    public static PoolInfo? FindPool(this ClusterMap map, uint id)
    {
        foreach (var pool in map.Pools)
        {
            if (pool.Id == id) return pool;
        }
        return null;
    }

    public static VolumeInfo? FindVolume(this ClusterMap map, string name)
    {
        foreach (var volume in map.Volumes)
        {
            if (volume.Name == name) return volume;
        }
        return null;
    }

    public static VolumeInfo? FindVolume(this ClusterMap map, ulong id)
    {
        foreach (var volume in map.Volumes)
        {
            if (volume.Id == id) return volume;
        }
        return null;
    }

    public static NetworkInfo? FindNetwork(this ClusterMap map, string name)
    {
        foreach (var network in map.Networks)
        {
            if (network.Name == name) return network;
        }
        return null;
    }

    public static VmInfo? FindVm(this ClusterMap map, string name)
    {
        foreach (var vm in map.Vms)
        {
            if (vm.Spec.Name == name) return vm;
        }
        return null;
    }

    public static bool IsBlocklisted(this ClusterMap map, string identity)
    {
        foreach (var entry in map.Blocklist)
        {
            if (entry.Identity == identity) return true;
        }
        return false;
    }

    /// <summary>The client identity a node uses for storage I/O and locks: "node.ID.INCARNATION".</summary>
    public static string Identity(this NodeInfo node) => NodeIdentity(node.Id, node.Incarnation);

    public static string NodeIdentity(uint nodeId, ulong incarnation) => $"node.{nodeId}.{incarnation}";

    /// <summary>Parses "node.ID.INCARNATION"; false for other identities (CLI clients).</summary>
    public static bool TryParseNodeIdentity(string identity, out uint nodeId, out ulong incarnation)
    {
        nodeId = 0;
        incarnation = 0;
        var parts = identity.Split('.');
        return parts.Length == 3 && parts[0] == "node"
            && uint.TryParse(parts[1], out nodeId) && ulong.TryParse(parts[2], out incarnation);
    }

    /// <summary>The VMs whose disks include the volume.</summary>
    public static IEnumerable<VmInfo> VmsUsingVolume(this ClusterMap map, string volumeName)
    {
        foreach (var vm in map.Vms)
        {
            foreach (var disk in vm.Spec.Disks)
            {
                if (disk.Volume == volumeName)
                {
                    yield return vm;
                    break;
                }
            }
        }
    }

    /// <summary>Volumes that are clones of the given volume (they read through to its snapshots).</summary>
    public static IEnumerable<VolumeInfo> ChildrenOf(this ClusterMap map, ulong volumeId)
    {
        foreach (var volume in map.Volumes)
        {
            if (volume.Parent is { } parent && parent.VolumeId == volumeId) yield return volume;
        }
    }

    public static string StateText(this NodeState state) => state switch
    {
        NodeState.Up => "up",
        NodeState.Down => "down",
        _ => "unknown",
    };

    public static string StateText(this VmState state) => state switch
    {
        VmState.Defined => "defined",
        VmState.Starting => "starting",
        VmState.Running => "running",
        VmState.Paused => "paused",
        VmState.Stopping => "stopping",
        VmState.Stopped => "stopped",
        VmState.Crashed => "crashed",
        VmState.Migrating => "migrating",
        _ => "unknown",
    };
}
