using System.Net;
using Fabric.Core.Io;
using Fabric.Proto;

namespace Fabric.Core.Map;

/// <summary>
/// Applies a <see cref="MapTransaction"/> to a cluster map: the only way a map changes.
/// </summary>
/// <remarks>
/// Contract: a pure function. The input map is never modified; the result is a new map with epoch + 1
/// in which every change of the transaction took effect, or an error and no map at all (a transaction
/// is all or nothing). Each change is checked against the map as the earlier changes of the same
/// transaction left it, so a transaction may create a pool and a volume in it. A transaction whose
/// base epoch is set and differs from the map's epoch is refused as stale; base epoch 0 applies to
/// whatever map is current (every change re-validates against it, so this is safe for changes that
/// do not depend on what the proposer read).
/// </remarks>
public static class MapTransactions
{
    public const uint MaxPgCount = 65536;
    public const uint MinObjectSize = 64 * 1024;
    public const uint MaxObjectSize = 64 * 1024 * 1024;
    public const uint DefaultObjectSize = 4 * 1024 * 1024;

    /// <summary>The map of a new cluster, epoch 1, with no nodes yet.</summary>
    public static ClusterMap Genesis(string clusterName, string fsid, ClusterSettings settings, MonitorSet monitors, long nowUnixMs)
    {
        return new ClusterMap
        {
            Epoch = 1,
            ClusterName = clusterName,
            Fsid = fsid,
            CreatedUnixMs = nowUnixMs,
            ModifiedUnixMs = nowUnixMs,
            Settings = settings.Clone(),
            Monitors = monitors.Clone(),
            NextNodeId = 1,
            NextPoolId = 1,
            NextVolumeId = 1,
            NextSnapId = 1,
            NextNetworkId = 1,
            NextVmId = 1,
        };
    }

    public static MapApplyResult Apply(ClusterMap current, MapTransaction transaction, long nowUnixMs)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction.BaseEpoch != 0 && transaction.BaseEpoch != current.Epoch)
        {
            return MapApplyResult.Fail(MapErrorKind.StaleEpoch,
                $"the change was based on epoch {transaction.BaseEpoch} but the map is at epoch {current.Epoch}; re-read the map and retry");
        }
        if (transaction.Changes.Count == 0)
        {
            return MapApplyResult.Fail(MapErrorKind.Invalid, "the transaction holds no changes");
        }

        var next = current.Clone();
        for (int i = 0; i < transaction.Changes.Count; i++)
        {
            var error = ApplyOne(next, transaction.Changes[i], nowUnixMs);
            if (error is not null)
            {
                var where = transaction.Changes.Count > 1 ? $"change {i + 1} of {transaction.Changes.Count}: " : "";
                return new MapApplyResult(null, error with { Message = where + error.Message });
            }
        }
        next.Epoch = current.Epoch + 1;
        next.ModifiedUnixMs = nowUnixMs;
        return MapApplyResult.Success(next);
    }

    private static MapError? ApplyOne(ClusterMap map, MapChange change, long now)
    {
        return change.ChangeCase switch
        {
            MapChange.ChangeOneofCase.NodeUpsert => NodeUpsert(map, change.NodeUpsert, now),
            MapChange.ChangeOneofCase.NodeState => NodeState(map, change.NodeState, now),
            MapChange.ChangeOneofCase.NodeInOut => NodeInOut(map, change.NodeInOut, now),
            MapChange.ChangeOneofCase.NodeRemove => NodeRemove(map, change.NodeRemove),
            MapChange.ChangeOneofCase.PoolCreate => PoolCreate(map, change.PoolCreate, now),
            MapChange.ChangeOneofCase.PoolSet => PoolSet(map, change.PoolSet),
            MapChange.ChangeOneofCase.PoolDelete => PoolDelete(map, change.PoolDelete),
            MapChange.ChangeOneofCase.VolumeCreate => VolumeCreate(map, change.VolumeCreate, now),
            MapChange.ChangeOneofCase.VolumeResize => VolumeResize(map, change.VolumeResize),
            MapChange.ChangeOneofCase.VolumeDelete => VolumeDelete(map, change.VolumeDelete),
            MapChange.ChangeOneofCase.SnapCreate => SnapCreate(map, change.SnapCreate, now),
            MapChange.ChangeOneofCase.SnapDelete => SnapDelete(map, change.SnapDelete),
            MapChange.ChangeOneofCase.SnapProtect => SnapProtect(map, change.SnapProtect),
            MapChange.ChangeOneofCase.VolumeLock => VolumeLock(map, change.VolumeLock),
            MapChange.ChangeOneofCase.VolumeFlatten => VolumeFlatten(map, change.VolumeFlatten),
            MapChange.ChangeOneofCase.NetworkUpsert => NetworkUpsert(map, change.NetworkUpsert),
            MapChange.ChangeOneofCase.NetworkDelete => NetworkDelete(map, change.NetworkDelete),
            MapChange.ChangeOneofCase.VmCreate => VmCreate(map, change.VmCreate, now),
            MapChange.ChangeOneofCase.VmUpdate => VmUpdate(map, change.VmUpdate, now),
            MapChange.ChangeOneofCase.VmDelete => VmDelete(map, change.VmDelete),
            MapChange.ChangeOneofCase.BlocklistAdd => BlocklistAdd(map, change.BlocklistAdd, now),
            MapChange.ChangeOneofCase.BlocklistRemove => BlocklistRemove(map, change.BlocklistRemove),
            MapChange.ChangeOneofCase.SettingsSet => SettingsSet(map, change.SettingsSet),
            MapChange.ChangeOneofCase.MonitorsSet => MonitorsSet(map, change.MonitorsSet),
            _ => Error(MapErrorKind.Invalid, "empty change (no operation set)"),
        };
    }

    private static MapError Error(MapErrorKind kind, string message) => new(kind, message);

    // ---- nodes ----

    private static MapError? NodeUpsert(ClusterMap map, NodeUpsert change, long now)
    {
        var node = change.Node;
        if (node is null) return Error(MapErrorKind.Invalid, "node upsert without a node");
        if (!IsName(node.Name)) return Error(MapErrorKind.Invalid, $"node name '{node.Name}' is not valid: use letters, digits, '-', '_' and '.' (1-63 characters)");
        if (!IsHostPort(node.GrpcAddress)) return Error(MapErrorKind.Invalid, $"node {node.Name}: grpc address '{node.GrpcAddress}' is not host:port");
        if (node.StorageAddress.Length > 0 && !IsHostPort(node.StorageAddress)) return Error(MapErrorKind.Invalid, $"node {node.Name}: storage address '{node.StorageAddress}' is not host:port");
        if (node.DataAddress.Length > 0 && !IPAddress.TryParse(node.DataAddress, out _)) return Error(MapErrorKind.Invalid, $"node {node.Name}: data address '{node.DataAddress}' is not an IP address");
        if (node.Weight < 0 || double.IsNaN(node.Weight)) return Error(MapErrorKind.Invalid, $"node {node.Name}: weight {node.Weight} must be >= 0");

        var existing = map.FindNode(node.Name);
        if (node.Id != 0 && (existing is null || existing.Id != node.Id))
        {
            return Error(MapErrorKind.NotFound, $"node id {node.Id} with name '{node.Name}' is not in the map");
        }
        foreach (var other in map.Nodes)
        {
            if (other != existing && other.GrpcAddress == node.GrpcAddress)
            {
                return Error(MapErrorKind.AlreadyExists, $"grpc address {node.GrpcAddress} is already used by node {other.Name}");
            }
        }
        if (existing is null)
        {
            var added = node.Clone();
            added.Id = map.NextNodeId++;
            added.Incarnation = 1;
            added.State = Proto.NodeState.Up;
            added.In = true;
            added.UpSinceEpoch = map.Epoch + 1;
            added.StateChangedUnixMs = now;
            added.StateReason = "joined";
            if (added.Weight == 0) added.Weight = DefaultWeight(added.CapacityBytes);
            map.Nodes.Add(added);
            return null;
        }

        // A rejoin: a restarted node comes back with the same name and keeps its id. A second process
        // claiming the name of a node that is up elsewhere is refused.
        if (existing.State == Proto.NodeState.Up && existing.GrpcAddress != node.GrpcAddress)
        {
            return Error(MapErrorKind.AlreadyExists,
                $"node name '{node.Name}' is already used by node {existing.Id} at {existing.GrpcAddress}, which is up; pick another name or stop that node");
        }
        existing.GrpcAddress = node.GrpcAddress;
        existing.DataAddress = node.DataAddress;
        existing.StorageAddress = node.StorageAddress;
        existing.FailureDomain = node.FailureDomain;
        existing.CapacityBytes = node.CapacityBytes;
        existing.Weight = node.Weight == 0 ? DefaultWeight(node.CapacityBytes) : node.Weight;
        existing.MemoryBytes = node.MemoryBytes;
        existing.Cpus = node.Cpus;
        existing.Version = node.Version;
        existing.Incarnation++;
        existing.State = Proto.NodeState.Up;
        existing.UpSinceEpoch = map.Epoch + 1;
        existing.StateChangedUnixMs = now;
        existing.StateReason = "rejoined";
        if (!existing.OutByOperator) existing.In = true;
        return null;
    }

    /// <summary>CRUSH's convention: weight = capacity in TiB (at least a small positive value).</summary>
    public static double DefaultWeight(ulong capacityBytes)
    {
        var tib = capacityBytes / (double)(1UL << 40);
        return Math.Max(tib, 0.001);
    }

    private static MapError? NodeState(ClusterMap map, NodeStateChange change, long now)
    {
        var node = map.FindNode(change.NodeId);
        if (node is null) return Error(MapErrorKind.NotFound, $"node id {change.NodeId} is not in the map");
        if (change.State is not (Proto.NodeState.Up or Proto.NodeState.Down))
        {
            return Error(MapErrorKind.Invalid, $"node state must be up or down, not {change.State}");
        }
        if (change.State == Proto.NodeState.Up && change.Incarnation != 0 && change.Incarnation != node.Incarnation)
        {
            return Error(MapErrorKind.FailedPrecondition,
                $"node {node.Name} reported incarnation {change.Incarnation} but the map has {node.Incarnation}; the node must rejoin");
        }
        if (change.State == Proto.NodeState.Down && change.Incarnation != 0 && change.Incarnation != node.Incarnation)
        {
            // That incarnation is gone already: the node rejoined since it was judged down, and the new one stays up.
            return null;
        }
        if (node.State == change.State) return null;
        node.State = change.State;
        node.StateChangedUnixMs = now;
        node.StateReason = change.Reason;
        if (change.State == Proto.NodeState.Up) node.UpSinceEpoch = map.Epoch + 1;
        return null;
    }

    private static MapError? NodeInOut(ClusterMap map, NodeInOut change, long now)
    {
        var node = map.FindNode(change.NodeId);
        if (node is null) return Error(MapErrorKind.NotFound, $"node id {change.NodeId} is not in the map");
        if (!change.In && !change.ByOperator && node.OutByOperator) return null;
        node.In = change.In;
        node.OutByOperator = !change.In && change.ByOperator;
        if (change.Reason.Length > 0) node.StateReason = change.Reason;
        node.StateChangedUnixMs = now;
        return null;
    }

    private static MapError? NodeRemove(ClusterMap map, NodeRemove change)
    {
        var node = map.FindNode(change.NodeId);
        if (node is null) return Error(MapErrorKind.NotFound, $"node id {change.NodeId} is not in the map");
        if (node.State == Proto.NodeState.Up || node.In)
        {
            return Error(MapErrorKind.FailedPrecondition, $"node {node.Name} must be down and out before it is removed (fabric node out {node.Name}; stop it)");
        }
        foreach (var vm in map.Vms)
        {
            if (vm.NodeId == node.Id && vm.State is VmState.Running or VmState.Paused or VmState.Starting or VmState.Migrating)
            {
                return Error(MapErrorKind.FailedPrecondition, $"node {node.Name} still runs VM {vm.Spec.Name}");
            }
        }
        map.Nodes.Remove(node);
        return null;
    }

    // ---- pools ----

    private static MapError? PoolCreate(ClusterMap map, PoolCreate change, long now)
    {
        var pool = change.Pool;
        if (pool is null) return Error(MapErrorKind.Invalid, "pool create without a pool");
        if (!IsName(pool.Name)) return Error(MapErrorKind.Invalid, $"pool name '{pool.Name}' is not valid: use letters, digits, '-', '_' and '.' (1-63 characters)");
        if (map.FindPool(pool.Name) is not null) return Error(MapErrorKind.AlreadyExists, $"pool {pool.Name} already exists");
        var created = pool.Clone();
        if (created.Replicas == 0) created.Replicas = 3;
        if (created.MinReplicas == 0) created.MinReplicas = Math.Min(2, created.Replicas);
        if (created.PgCount == 0) created.PgCount = 64;
        if (created.FailureDomain.Length == 0) created.FailureDomain = "host";
        var invalid = ValidatePool(created);
        if (invalid is not null) return invalid;
        created.Id = map.NextPoolId++;
        created.CreatedUnixMs = now;
        map.Pools.Add(created);
        return null;
    }

    private static MapError? ValidatePool(PoolInfo pool)
    {
        if (pool.Replicas is < 1 or > 16) return Error(MapErrorKind.Invalid, $"pool {pool.Name}: replicas {pool.Replicas} must be between 1 and 16");
        if (pool.MinReplicas < 1 || pool.MinReplicas > pool.Replicas)
        {
            return Error(MapErrorKind.Invalid, $"pool {pool.Name}: min_replicas {pool.MinReplicas} must be between 1 and replicas ({pool.Replicas})");
        }
        if (pool.PgCount == 0 || pool.PgCount > MaxPgCount || (pool.PgCount & (pool.PgCount - 1)) != 0)
        {
            return Error(MapErrorKind.Invalid, $"pool {pool.Name}: pg_count {pool.PgCount} must be a power of two between 1 and {MaxPgCount}");
        }
        if (pool.FailureDomain is not ("host" or "rack"))
        {
            return Error(MapErrorKind.Invalid, $"pool {pool.Name}: failure_domain '{pool.FailureDomain}' must be \"host\" or \"rack\"");
        }
        return null;
    }

    private static MapError? PoolSet(ClusterMap map, PoolSet change)
    {
        var pool = map.FindPool(change.Name);
        if (pool is null) return Error(MapErrorKind.NotFound, $"pool {change.Name} does not exist");
        var updated = pool.Clone();
        if (change.Replicas != 0) updated.Replicas = change.Replicas;
        if (change.MinReplicas != 0) updated.MinReplicas = change.MinReplicas;
        if (change.PgCount != 0 && change.PgCount != pool.PgCount)
        {
            foreach (var volume in map.Volumes)
            {
                if (volume.PoolId == pool.Id)
                {
                    return Error(MapErrorKind.FailedPrecondition,
                        $"pool {pool.Name}: pg_count cannot change while the pool holds volumes (PG splitting is not supported yet)");
                }
            }
            updated.PgCount = change.PgCount;
        }
        var invalid = ValidatePool(updated);
        if (invalid is not null) return invalid;
        map.Pools[map.Pools.IndexOf(pool)] = updated;
        return null;
    }

    private static MapError? PoolDelete(ClusterMap map, PoolDelete change)
    {
        var pool = map.FindPool(change.Name);
        if (pool is null) return Error(MapErrorKind.NotFound, $"pool {change.Name} does not exist");
        foreach (var volume in map.Volumes)
        {
            if (volume.PoolId == pool.Id)
            {
                return Error(MapErrorKind.FailedPrecondition, $"pool {pool.Name} still holds volume {volume.Name}; remove its volumes first");
            }
        }
        map.Pools.Remove(pool);
        return null;
    }

    // ---- volumes ----

    private static MapError? VolumeCreate(ClusterMap map, VolumeCreate change, long now)
    {
        var volume = change.Volume;
        if (volume is null) return Error(MapErrorKind.Invalid, "volume create without a volume");
        if (!IsName(volume.Name)) return Error(MapErrorKind.Invalid, $"volume name '{volume.Name}' is not valid: use letters, digits, '-', '_' and '.' (1-63 characters)");
        if (map.FindVolume(volume.Name) is not null) return Error(MapErrorKind.AlreadyExists, $"volume {volume.Name} already exists");
        if (map.FindPool(volume.PoolId) is null) return Error(MapErrorKind.NotFound, $"volume {volume.Name}: pool id {volume.PoolId} does not exist");
        if (volume.SizeBytes == 0) return Error(MapErrorKind.Invalid, $"volume {volume.Name}: size must be greater than 0");
        var created = volume.Clone();
        if (created.ObjectSizeBytes == 0) created.ObjectSizeBytes = DefaultObjectSize;
        var objectSize = created.ObjectSizeBytes;
        if (objectSize < MinObjectSize || objectSize > MaxObjectSize || (objectSize & (objectSize - 1)) != 0)
        {
            return Error(MapErrorKind.Invalid, $"volume {volume.Name}: object size {objectSize} must be a power of two between 64 KiB and 64 MiB");
        }
        if (created.SizeBytes % 512 != 0) return Error(MapErrorKind.Invalid, $"volume {volume.Name}: size {created.SizeBytes} must be a multiple of 512 bytes");
        if (created.Parent is { } parentRef)
        {
            var parent = map.FindVolume(parentRef.VolumeId);
            if (parent is null) return Error(MapErrorKind.NotFound, $"volume {volume.Name}: parent volume id {parentRef.VolumeId} does not exist");
            var snap = parent.Snapshots.FirstOrDefault(s => s.Id == parentRef.SnapId);
            if (snap is null) return Error(MapErrorKind.NotFound, $"volume {volume.Name}: parent snapshot id {parentRef.SnapId} of {parent.Name} does not exist");
            if (!snap.Protected)
            {
                return Error(MapErrorKind.FailedPrecondition,
                    $"snapshot {parent.Name}@{snap.Name} must be protected before it is cloned (fabric volume snap protect {parent.Name}@{snap.Name})");
            }
            if (created.Parent.OverlapBytes == 0) created.Parent.OverlapBytes = snap.SizeBytes;
        }
        created.Id = map.NextVolumeId++;
        created.CreatedUnixMs = now;
        created.Snapshots.Clear();
        created.SnapSeq = 0;
        created.Lock = null;
        map.Volumes.Add(created);
        return null;
    }

    private static MapError? VolumeResize(ClusterMap map, VolumeResize change)
    {
        var volume = map.FindVolume(change.Name);
        if (volume is null) return Error(MapErrorKind.NotFound, $"volume {change.Name} does not exist");
        if (change.SizeBytes == 0 || change.SizeBytes % 512 != 0)
        {
            return Error(MapErrorKind.Invalid, $"volume {change.Name}: new size {change.SizeBytes} must be a positive multiple of 512 bytes");
        }
        volume.SizeBytes = change.SizeBytes;
        if (volume.Parent is { } parent && parent.OverlapBytes > change.SizeBytes) parent.OverlapBytes = change.SizeBytes;
        return null;
    }

    private static MapError? VolumeDelete(ClusterMap map, VolumeDelete change)
    {
        var volume = map.FindVolume(change.Name);
        if (volume is null) return Error(MapErrorKind.NotFound, $"volume {change.Name} does not exist");
        var child = map.ChildrenOf(volume.Id).FirstOrDefault();
        if (child is not null)
        {
            return Error(MapErrorKind.FailedPrecondition, $"volume {volume.Name} has clone {child.Name}; flatten or remove the clone first");
        }
        var vm = map.VmsUsingVolume(volume.Name).FirstOrDefault();
        if (vm is not null) return Error(MapErrorKind.FailedPrecondition, $"volume {volume.Name} is a disk of VM {vm.Spec.Name}; remove the VM first");
        if (volume.Lock is { Owner.Length: > 0 } held)
        {
            return Error(MapErrorKind.FailedPrecondition, $"volume {volume.Name} is locked by {held.Owner}; release or break the lock first");
        }
        map.Volumes.Remove(volume);
        return null;
    }

    private static MapError? SnapCreate(ClusterMap map, SnapCreate change, long now)
    {
        var volume = map.FindVolume(change.Volume);
        if (volume is null) return Error(MapErrorKind.NotFound, $"volume {change.Volume} does not exist");
        if (!IsName(change.Snap)) return Error(MapErrorKind.Invalid, $"snapshot name '{change.Snap}' is not valid: use letters, digits, '-', '_' and '.' (1-63 characters)");
        if (volume.Snapshots.Any(s => s.Name == change.Snap)) return Error(MapErrorKind.AlreadyExists, $"snapshot {change.Volume}@{change.Snap} already exists");
        var id = map.NextSnapId++;
        volume.Snapshots.Add(new SnapshotInfo { Id = id, Name = change.Snap, SizeBytes = volume.SizeBytes, CreatedUnixMs = now });
        volume.SnapSeq = id;
        return null;
    }

    private static MapError? SnapDelete(ClusterMap map, SnapDelete change)
    {
        var volume = map.FindVolume(change.Volume);
        if (volume is null) return Error(MapErrorKind.NotFound, $"volume {change.Volume} does not exist");
        var snap = volume.Snapshots.FirstOrDefault(s => s.Name == change.Snap);
        if (snap is null) return Error(MapErrorKind.NotFound, $"snapshot {change.Volume}@{change.Snap} does not exist");
        if (snap.Protected) return Error(MapErrorKind.FailedPrecondition, $"snapshot {change.Volume}@{change.Snap} is protected; unprotect it first");
        volume.Snapshots.Remove(snap);
        return null;
    }

    private static MapError? SnapProtect(ClusterMap map, SnapProtect change)
    {
        var volume = map.FindVolume(change.Volume);
        if (volume is null) return Error(MapErrorKind.NotFound, $"volume {change.Volume} does not exist");
        var snap = volume.Snapshots.FirstOrDefault(s => s.Name == change.Snap);
        if (snap is null) return Error(MapErrorKind.NotFound, $"snapshot {change.Volume}@{change.Snap} does not exist");
        if (!change.Protected)
        {
            var child = map.ChildrenOf(volume.Id).FirstOrDefault(c => c.Parent.SnapId == snap.Id);
            if (child is not null)
            {
                return Error(MapErrorKind.FailedPrecondition, $"snapshot {change.Volume}@{change.Snap} has clone {child.Name}; flatten or remove it first");
            }
        }
        snap.Protected = change.Protected;
        return null;
    }

    private static MapError? VolumeFlatten(ClusterMap map, VolumeFlatten change)
    {
        var volume = map.FindVolume(change.Volume);
        if (volume is null) return Error(MapErrorKind.NotFound, $"volume {change.Volume} does not exist");
        if (volume.Parent is null) return Error(MapErrorKind.FailedPrecondition, $"volume {change.Volume} is not a clone");
        volume.Parent = null;
        return null;
    }

    private static MapError? VolumeLock(ClusterMap map, VolumeLockChange change)
    {
        var volume = map.FindVolume(change.Volume);
        if (volume is null) return Error(MapErrorKind.NotFound, $"volume {change.Volume} does not exist");
        var held = volume.Lock is { Owner.Length: > 0 } ? volume.Lock : null;
        switch (change.Op)
        {
            case "acquire":
                if (change.Owner.Length == 0) return Error(MapErrorKind.Invalid, "lock acquire without an owner");
                if (map.IsBlocklisted(change.Owner)) return Error(MapErrorKind.FailedPrecondition, $"{change.Owner} is blocklisted and may not take locks");
                if (held is not null && held.Owner != change.Owner)
                {
                    return Error(MapErrorKind.FailedPrecondition,
                        $"volume {volume.Name} is locked by {held.Owner} ({held.Description}); it must be released, or broken with `fabric volume lock break {volume.Name}`");
                }
                volume.Lock = new VolumeLock { Owner = change.Owner, NodeId = change.NodeId, AcquiredEpoch = map.Epoch + 1, Description = change.Description };
                return null;
            case "release":
                if (held is null) return null;
                if (held.Owner != change.Owner) return Error(MapErrorKind.FailedPrecondition, $"volume {volume.Name} is locked by {held.Owner}, not {change.Owner}");
                volume.Lock = null;
                return null;
            case "break":
                if (held is null) return null;
                if (!change.Force && !map.IsBlocklisted(held.Owner))
                {
                    return Error(MapErrorKind.FailedPrecondition,
                        $"volume {volume.Name} is locked by {held.Owner}, which is not blocklisted: blocklist it first so it cannot write again (or use --force)");
                }
                volume.Lock = null;
                return null;
            case "transfer":
                if (held is null || held.Owner != change.Owner)
                {
                    return Error(MapErrorKind.FailedPrecondition, $"volume {volume.Name} is not locked by {change.Owner}; cannot hand the lock over");
                }
                if (change.NewOwner.Length == 0) return Error(MapErrorKind.Invalid, "lock transfer without a new owner");
                if (map.IsBlocklisted(change.NewOwner)) return Error(MapErrorKind.FailedPrecondition, $"{change.NewOwner} is blocklisted and may not take locks");
                volume.Lock = new VolumeLock { Owner = change.NewOwner, NodeId = change.NewNodeId, AcquiredEpoch = map.Epoch + 1, Description = change.Description.Length > 0 ? change.Description : held.Description };
                return null;
            default:
                return Error(MapErrorKind.Invalid, $"lock operation '{change.Op}' is not one of acquire, release, break, transfer");
        }
    }

    // ---- networks ----

    private static MapError? NetworkUpsert(ClusterMap map, NetworkUpsert change)
    {
        var network = change.Network;
        if (network is null) return Error(MapErrorKind.Invalid, "network upsert without a network");
        if (!IsName(network.Name)) return Error(MapErrorKind.Invalid, $"network name '{network.Name}' is not valid: use letters, digits, '-', '_' and '.' (1-63 characters)");
        switch (network.Kind)
        {
            case "vlan":
                if (network.Vlan is < 1 or > 4094) return Error(MapErrorKind.Invalid, $"network {network.Name}: vlan {network.Vlan} must be between 1 and 4094");
                break;
            case "vxlan":
                if (network.Vni is < 1 or > 0xFFFFFF) return Error(MapErrorKind.Invalid, $"network {network.Name}: vni {network.Vni} must be between 1 and 16777215");
                break;
            default:
                return Error(MapErrorKind.Invalid, $"network {network.Name}: kind '{network.Kind}' must be \"vlan\" or \"vxlan\"");
        }
        if (network.Mtu != 0 && network.Mtu is < 576 or > 9000) return Error(MapErrorKind.Invalid, $"network {network.Name}: mtu {network.Mtu} must be between 576 and 9000");
        foreach (var other in map.Networks)
        {
            if (other.Name == network.Name || other.Kind != network.Kind) continue;
            if (network.Kind == "vlan" && other.Vlan == network.Vlan) return Error(MapErrorKind.AlreadyExists, $"network {network.Name}: vlan {network.Vlan} is already used by network {other.Name}");
            if (network.Kind == "vxlan" && other.Vni == network.Vni) return Error(MapErrorKind.AlreadyExists, $"network {network.Name}: vni {network.Vni} is already used by network {other.Name}");
        }
        var existing = map.FindNetwork(network.Name);
        if (existing is null)
        {
            var created = network.Clone();
            if (created.Mtu == 0) created.Mtu = created.Kind == "vxlan" ? 1450u : 1500u;
            created.Id = map.NextNetworkId++;
            map.Networks.Add(created);
            return null;
        }
        if (existing.Kind != network.Kind)
        {
            return Error(MapErrorKind.FailedPrecondition, $"network {network.Name}: kind cannot change from {existing.Kind} to {network.Kind}; create a new network instead");
        }
        var segmentChanged = existing.Vlan != network.Vlan || existing.Vni != network.Vni;
        if (segmentChanged)
        {
            var user = VmsOnNetwork(map, network.Name).FirstOrDefault();
            if (user is not null)
            {
                return Error(MapErrorKind.FailedPrecondition, $"network {network.Name}: its {(network.Kind == "vlan" ? "vlan id" : "vni")} cannot change while VM {user.Spec.Name} has a port on it");
            }
        }
        var replaced = network.Clone();
        replaced.Id = existing.Id;
        if (replaced.Mtu == 0) replaced.Mtu = replaced.Kind == "vxlan" ? 1450u : 1500u;
        map.Networks[map.Networks.IndexOf(existing)] = replaced;
        return null;
    }

    public static IEnumerable<VmInfo> VmsOnNetwork(ClusterMap map, string network)
    {
        foreach (var vm in map.Vms)
        {
            if (vm.Spec.Nics.Any(n => n.Network == network)) yield return vm;
        }
    }

    private static MapError? NetworkDelete(ClusterMap map, NetworkDelete change)
    {
        var network = map.FindNetwork(change.Name);
        if (network is null) return Error(MapErrorKind.NotFound, $"network {change.Name} does not exist");
        var users = VmsOnNetwork(map, network.Name).Select(v => v.Spec.Name).ToList();
        if (users.Count > 0)
        {
            return Error(MapErrorKind.FailedPrecondition,
                $"network {network.Name} still has ports of VM{(users.Count > 1 ? "s" : "")} {string.Join(", ", users)}; remove them or move their NICs first");
        }
        map.Networks.Remove(network);
        return null;
    }

    // ---- VMs ----

    private static MapError? ValidateVmSpec(ClusterMap map, VmSpec spec, VmInfo? self)
    {
        if (!IsName(spec.Name)) return Error(MapErrorKind.Invalid, $"VM name '{spec.Name}' is not valid: use letters, digits, '-', '_' and '.' (1-63 characters)");
        if (spec.Vcpus is < 1 or > 64) return Error(MapErrorKind.Invalid, $"VM {spec.Name}: vcpus {spec.Vcpus} must be between 1 and 64");
        if (spec.MemoryBytes < 16UL << 20) return Error(MapErrorKind.Invalid, $"VM {spec.Name}: memory must be at least 16 MiB");
        if (spec.Node.Length > 0 && map.FindNode(spec.Node) is null)
        {
            return Error(MapErrorKind.NotFound, $"VM {spec.Name}: node {spec.Node} is not in the cluster");
        }
        var seenVolumes = new HashSet<string>();
        foreach (var disk in spec.Disks)
        {
            if (map.FindVolume(disk.Volume) is null) return Error(MapErrorKind.NotFound, $"VM {spec.Name}: volume {disk.Volume} does not exist (create it first: fabric volume create {disk.Volume} --size ...)");
            if (!seenVolumes.Add(disk.Volume)) return Error(MapErrorKind.Invalid, $"VM {spec.Name}: volume {disk.Volume} is listed twice");
            if (disk.Transport is not ("" or "vhost-user" or "nbd")) return Error(MapErrorKind.Invalid, $"VM {spec.Name}: disk transport '{disk.Transport}' must be vhost-user or nbd");
            if (!DiskCacheModes.TryParse(disk.Cache, out _)) return Error(MapErrorKind.Invalid, $"VM {spec.Name}: disk {disk.Volume} cache '{disk.Cache}' must be one of {DiskCacheModes.Expected}");
            foreach (var other in map.VmsUsingVolume(disk.Volume))
            {
                if (other != self && !disk.ReadOnly)
                {
                    return Error(MapErrorKind.FailedPrecondition, $"VM {spec.Name}: volume {disk.Volume} is already a disk of VM {other.Spec.Name}");
                }
            }
        }
        foreach (var nic in spec.Nics)
        {
            var network = map.FindNetwork(nic.Network);
            if (network is null) return Error(MapErrorKind.NotFound, $"VM {spec.Name}: network {nic.Network} does not exist (define it in a [[network]] table and apply it)");
            if (nic.Mac.Length > 0)
            {
                foreach (var other in map.Vms)
                {
                    if (other == self) continue;
                    if (other.Spec.Nics.Any(n => string.Equals(n.Mac, nic.Mac, StringComparison.OrdinalIgnoreCase)))
                    {
                        return Error(MapErrorKind.AlreadyExists, $"VM {spec.Name}: MAC {nic.Mac} is already used by VM {other.Spec.Name}");
                    }
                }
            }
        }
        return null;
    }

    private static MapError? VmCreate(ClusterMap map, VmCreate change, long now)
    {
        var spec = change.Spec;
        if (spec is null) return Error(MapErrorKind.Invalid, "VM create without a spec");
        if (map.FindVm(spec.Name) is not null) return Error(MapErrorKind.AlreadyExists, $"VM {spec.Name} already exists");
        var invalid = ValidateVmSpec(map, spec, null);
        if (invalid is not null) return invalid;
        var vm = new VmInfo
        {
            Id = map.NextVmId++,
            Spec = spec.Clone(),
            State = VmState.Defined,
            StateChangedUnixMs = now,
            NodeId = spec.Node.Length > 0 ? map.FindNode(spec.Node)!.Id : 0,
        };
        map.Vms.Add(vm);
        return null;
    }

    private static MapError? VmUpdate(ClusterMap map, VmUpdate change, long now)
    {
        var vm = map.FindVm(change.Name);
        if (vm is null) return Error(MapErrorKind.NotFound, $"VM {change.Name} does not exist");
        if (change.ExpectGeneration != 0 && vm.Generation != change.ExpectGeneration)
        {
            return Error(MapErrorKind.FailedPrecondition, $"VM {change.Name} is at generation {vm.Generation}, not {change.ExpectGeneration}: another node or command changed it meanwhile");
        }
        foreach (var field in change.Fields)
        {
            switch (field)
            {
                case "node_id":
                    if (change.NodeId != 0 && map.FindNode(change.NodeId) is null) return Error(MapErrorKind.NotFound, $"VM {change.Name}: node id {change.NodeId} is not in the map");
                    vm.NodeId = change.NodeId;
                    break;
                case "state":
                    if (vm.State != change.State) vm.StateChangedUnixMs = now;
                    vm.State = change.State;
                    vm.StateReason = change.StateReason;
                    break;
                case "want_running":
                    vm.WantRunning = change.WantRunning;
                    break;
                case "migrating_to":
                    vm.MigratingTo = change.MigratingTo;
                    break;
                case "spec":
                    if (change.Spec is null || change.Spec.Name != vm.Spec.Name) return Error(MapErrorKind.Invalid, $"VM {change.Name}: a spec update must keep the name");
                    var invalid = ValidateVmSpec(map, change.Spec, vm);
                    if (invalid is not null) return invalid;
                    vm.Spec = change.Spec.Clone();
                    break;
                default:
                    return Error(MapErrorKind.Invalid, $"VM update field '{field}' is unknown (node_id, state, want_running, migrating_to, spec)");
            }
        }
        if (change.BumpGeneration) vm.Generation++;
        return null;
    }

    private static MapError? VmDelete(ClusterMap map, VmDelete change)
    {
        var vm = map.FindVm(change.Name);
        if (vm is null) return Error(MapErrorKind.NotFound, $"VM {change.Name} does not exist");
        if (vm.State is VmState.Running or VmState.Paused or VmState.Starting or VmState.Migrating or VmState.Stopping)
        {
            return Error(MapErrorKind.FailedPrecondition, $"VM {change.Name} is {vm.State.StateText()}; stop it first (fabric vm stop {change.Name})");
        }
        map.Vms.Remove(vm);
        return null;
    }

    // ---- blocklist, settings ----

    private static MapError? BlocklistAdd(ClusterMap map, BlocklistAdd change, long now)
    {
        if (change.Identity.Length == 0) return Error(MapErrorKind.Invalid, "blocklist entry without an identity");
        if (map.IsBlocklisted(change.Identity)) return null;
        map.Blocklist.Add(new BlocklistEntry { Identity = change.Identity, AddedEpoch = map.Epoch + 1, AddedUnixMs = now, Reason = change.Reason });
        return null;
    }

    private static MapError? BlocklistRemove(ClusterMap map, BlocklistRemove change)
    {
        var entry = map.Blocklist.FirstOrDefault(e => e.Identity == change.Identity);
        if (entry is null) return Error(MapErrorKind.NotFound, $"{change.Identity} is not blocklisted");
        map.Blocklist.Remove(entry);
        return null;
    }

    private static MapError? SettingsSet(ClusterMap map, SettingsSet change)
    {
        var settings = change.Settings;
        if (settings is null) return Error(MapErrorKind.Invalid, "settings change without settings");
        if (settings.HeartbeatIntervalMs == 0 || settings.HeartbeatGraceMs <= settings.HeartbeatIntervalMs)
        {
            return Error(MapErrorKind.Invalid, "heartbeat grace must be longer than the heartbeat interval, and the interval above 0");
        }
        if (settings.DownOutIntervalMs < settings.HeartbeatGraceMs) return Error(MapErrorKind.Invalid, "down_out_interval must be at least the heartbeat grace");
        map.Settings = settings.Clone();
        return null;
    }

    private static MapError? MonitorsSet(ClusterMap map, MonitorsSet change)
    {
        if (change.Monitors is null || change.Monitors.Names.Count == 0) return Error(MapErrorKind.Invalid, "a cluster needs at least one monitor");
        map.Monitors = change.Monitors.Clone();
        return null;
    }

    // ---- value checks ----

    public static bool IsName(string name)
    {
        if (name.Length is 0 or > 63) return false;
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) return false;
        }
        return char.IsAsciiLetterOrDigit(name[0]);
    }

    public static bool IsHostPort(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1) return false;
        if (!ushort.TryParse(text.AsSpan(colon + 1), out var port) || port == 0) return false;
        var host = text[..colon].Trim('[', ']');
        return host.Length > 0 && (IPAddress.TryParse(host, out _) || Uri.CheckHostName(host) == UriHostNameType.Dns);
    }
}
