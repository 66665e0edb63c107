using System.Globalization;
using Fabric.Config.Model;
using Fabric.Core.Map;
using Fabric.Core.Units;
using Fabric.Proto;

namespace Fabric.Config.Plan;

/// <summary>
/// Computes the map changes that make a cluster map match a config, like <c>terraform plan</c>:
/// <list type="bullet">
/// <item>pools, volumes, networks and VMs missing from the map are created;</item>
/// <item>changes that can be made in place are: pool replicas and min_replicas (and pg_count while the
/// pool holds no volumes), volume growth, every network field but its kind (vlan id / vni only while no
/// VM uses the network), the VM spec, the heartbeat settings;</item>
/// <item>refused, reported as <see cref="PlanError"/>s: shrinking a volume, moving it to another pool,
/// changing its object size, changing a network's kind or a pool's failure domain, changing monitors,
/// and anything <c>MapTransactions.Apply</c> itself would refuse;</item>
/// <item>entries in the map but not in the config are listed and left alone, unless
/// <see cref="PlanScope.Prune"/> is set: then they are deleted (VMs, then volumes, networks, pools);</item>
/// <item>nodes are only reported: they join by themselves.</item>
/// </list>
/// Every change is checked by applying it with <see cref="MapTransactions.Apply"/> to a working copy of
/// the map, in order, so the returned list is accepted as one transaction at the same base epoch (and
/// new volumes name the ids their new pools will get). Planning a map that already matches gives no
/// changes.
/// </summary>
public static class ConfigPlanner
{
    public static ConfigPlan Plan(ClusterConfig config, ClusterMap map, PlanScope scope)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(scope);
        return new Planning(config, map, scope).Run();
    }

    /// <summary>One planning run: the working map and what has been decided so far.</summary>
    private sealed class Planning
    {
        private readonly ClusterConfig _config;
        private readonly ClusterMap _map;
        private readonly PlanScope _scope;
        private readonly List<MapChange> _changes = [];
        private readonly List<PlanLine> _lines = [];
        private readonly List<PlanError> _errors = [];
        private ClusterMap _working;

        public Planning(ClusterConfig config, ClusterMap map, PlanScope scope)
        {
            _config = config;
            _map = map;
            _scope = scope;
            _working = map.Clone();
        }

        public ConfigPlan Run()
        {
            if (_map.ClusterName.Length > 0 && _map.ClusterName != _config.Cluster.Name)
            {
                Refuse("cluster", _config.Cluster.Name, $"the config is for cluster '{_config.Cluster.Name}' but the map belongs to cluster '{_map.ClusterName}'", _config.Cluster.Source.At("name"));
                return Result();
            }

            if (_scope.Includes(PlanKinds.Settings))
            {
                PlanSettings();
            }

            if (_scope.Includes(PlanKinds.Nodes))
            {
                PlanNodes();
            }

            if (_scope.Includes(PlanKinds.Pools))
            {
                _config.Pools.ToList().ForEach(PlanPool);
            }

            if (_scope.Includes(PlanKinds.Volumes))
            {
                _config.Volumes.ToList().ForEach(PlanVolume);
            }

            if (_scope.Includes(PlanKinds.Networks))
            {
                _config.Networks.ToList().ForEach(PlanNetwork);
            }

            if (_scope.Includes(PlanKinds.Vms))
            {
                _config.Vms.ToList().ForEach(PlanVm);
            }

            // Entries the config does not mention: dependents first, so a VM goes before its volumes.
            if (_scope.Includes(PlanKinds.Vms))
            {
                foreach (var vm in _map.Vms.Where(vm => _config.FindVm(vm.Spec.Name) is null))
                {
                    PlanExtra("vm", vm.Spec.Name, $"({vm.State.StateText()})", new MapChange { VmDelete = new VmDelete { Name = vm.Spec.Name } });
                }
            }

            if (_scope.Includes(PlanKinds.Volumes))
            {
                foreach (var volume in _map.Volumes.Where(volume => _config.FindVolume(volume.Name) is null))
                {
                    PlanExtra("volume", volume.Name, $"({FormatBytes(volume.SizeBytes)})", new MapChange { VolumeDelete = new VolumeDelete { Name = volume.Name } });
                }
            }

            if (_scope.Includes(PlanKinds.Networks))
            {
                foreach (var network in _map.Networks.Where(network => _config.FindNetwork(network.Name) is null))
                {
                    PlanExtra("network", network.Name, $"({DescribeSegment(network)})", new MapChange { NetworkDelete = new NetworkDelete { Name = network.Name } });
                }
            }

            if (_scope.Includes(PlanKinds.Pools))
            {
                foreach (var pool in _map.Pools.Where(pool => _config.FindPool(pool.Name) is null))
                {
                    PlanExtra("pool", pool.Name, string.Empty, new MapChange { PoolDelete = new PoolDelete { Name = pool.Name } });
                }
            }

            return Result();
        }

        private ConfigPlan Result() => new(_map.Epoch, _changes, _lines, _errors);

        // ---- bookkeeping ----

        private void Line(PlanAction action, string kind, string name, string detail) =>
            _lines.Add(new PlanLine(action, kind, name, detail));

        private void Refuse(string kind, string name, string message, SourceLocation? location)
        {
            _errors.Add(new PlanError(kind, name, message, location));
            Line(PlanAction.Refused, kind, name, location is { } at ? $"{message} [{at}]" : message);
        }

        /// <summary>
        /// Keeps <paramref name="change"/> when the map accepts it after the changes before it; otherwise
        /// reports why, as a refused line instead of <paramref name="action"/>.
        /// </summary>
        private bool TryChange(MapChange change, PlanAction action, string kind, string name, string detail, SourceLocation? location)
        {
            var transaction = new MapTransaction { BaseEpoch = _working.Epoch };
            transaction.Changes.Add(change);
            var result = MapTransactions.Apply(_working, transaction, _map.ModifiedUnixMs);
            if (!result.Ok)
            {
                Refuse(kind, name, $"the map refuses it: {result.Error!.Message}", location);
                return false;
            }

            _working = result.Map!;
            _changes.Add(change);
            Line(action, kind, name, detail);
            return true;
        }

        private void PlanExtra(string kind, string name, string detail, MapChange delete)
        {
            if (_scope.Prune)
            {
                TryChange(delete, PlanAction.Delete, kind, name, detail, null);
            }
            else
            {
                var suffix = detail.Length > 0 ? detail[..^1] + "; " : "(";
                Line(PlanAction.Kept, kind, name, suffix + "in the map but not in the config: kept, prune deletes it)");
            }
        }

        private static string Arrow<T>(string field, T from, T to) => $"{field} {from} -> {to}";

        private static string FormatBytes(ulong bytes) => ConfigMapping.FormatBytes(bytes);

        private static string FormatMs(uint ms) => DurationText.Format(TimeSpan.FromMilliseconds(ms));

        // ---- settings and monitors ----

        private void PlanSettings()
        {
            var cluster = _config.Cluster;
            var desired = ConfigMapping.ToClusterSettings(cluster);
            var current = _map.Settings ?? new ClusterSettings();
            var differences = new List<string>();
            if (current.HeartbeatIntervalMs != desired.HeartbeatIntervalMs)
            {
                differences.Add(Arrow("heartbeat_interval", FormatMs(current.HeartbeatIntervalMs), FormatMs(desired.HeartbeatIntervalMs)));
            }

            if (current.HeartbeatGraceMs != desired.HeartbeatGraceMs)
            {
                differences.Add(Arrow("heartbeat_grace", FormatMs(current.HeartbeatGraceMs), FormatMs(desired.HeartbeatGraceMs)));
            }

            if (current.DownOutIntervalMs != desired.DownOutIntervalMs)
            {
                differences.Add(Arrow("down_out_interval", FormatMs(current.DownOutIntervalMs), FormatMs(desired.DownOutIntervalMs)));
            }

            if (differences.Count == 0)
            {
                Line(PlanAction.Unchanged, "settings", cluster.Name, "(unchanged)");
            }
            else
            {
                TryChange(new MapChange { SettingsSet = new SettingsSet { Settings = desired } }, PlanAction.Update, "settings", cluster.Name, string.Join(", ", differences), cluster.Source.Location);
            }

            var monitors = ConfigMapping.ToMonitorSet(cluster);
            var currentMonitors = _map.Monitors ?? new MonitorSet();
            if (!monitors.Names.SequenceEqual(currentMonitors.Names) || monitors.Store != currentMonitors.Store)
            {
                Refuse("monitors", cluster.Name,
                    $"the map has [{string.Join(", ", currentMonitors.Names)}] ({currentMonitors.Store}), the config [{string.Join(", ", monitors.Names)}] ({monitors.Store}); monitors and their store are not changed by a plan",
                    cluster.Source.At("monitors"));
            }
        }

        // ---- nodes: reported only ----

        private void PlanNodes()
        {
            foreach (var node in _config.Nodes)
            {
                var current = _map.FindNode(node.Name);
                if (current is null)
                {
                    Line(PlanAction.Note, "node", node.Name, "(not joined yet: it joins when its daemon starts)");
                    continue;
                }

                var desired = ConfigMapping.ToNodeInfo(node);
                var differences = new List<string>();
                AddIfDifferent(differences, "grpc", current.GrpcAddress, desired.GrpcAddress);
                AddIfDifferent(differences, "data", current.DataAddress, desired.DataAddress);
                AddIfDifferent(differences, "storage", current.StorageAddress, desired.StorageAddress);
                AddIfDifferent(differences, "failure_domain", current.FailureDomain, desired.FailureDomain);
                AddIfDifferent(differences, "capacity", FormatBytes(current.CapacityBytes), FormatBytes(desired.CapacityBytes));
                AddIfDifferent(differences, "vm_memory", FormatBytes(current.MemoryBytes), FormatBytes(desired.MemoryBytes));
                AddIfDifferent(differences, "vm_cpus", current.Cpus.ToString(CultureInfo.InvariantCulture), desired.Cpus.ToString(CultureInfo.InvariantCulture));
                var state = $"{current.State.StateText()}, {(current.In ? "in" : "out")}";
                if (differences.Count == 0)
                {
                    Line(PlanAction.Unchanged, "node", node.Name, $"({state})");
                }
                else
                {
                    Line(PlanAction.Note, "node", node.Name, $"{string.Join(", ", differences)} (the node updates the map when it rejoins; {state})");
                }
            }

            foreach (var node in _map.Nodes.Where(node => _config.FindNode(node.Name) is null))
            {
                Line(PlanAction.Kept, "node", node.Name, $"({node.State.StateText()}; in the map but not in the config: nodes are removed with the node commands)");
            }
        }

        private static void AddIfDifferent(List<string> differences, string field, string current, string desired)
        {
            if (current != desired)
            {
                differences.Add(Arrow(field, current.Length == 0 ? "\"\"" : current, desired.Length == 0 ? "\"\"" : desired));
            }
        }

        // ---- pools ----

        private void PlanPool(PoolConfig pool)
        {
            var desired = ConfigMapping.ToPoolInfo(pool);
            var current = _map.FindPool(pool.Name);
            if (current is null)
            {
                TryChange(new MapChange { PoolCreate = new PoolCreate { Pool = desired } }, PlanAction.Create, "pool", pool.Name,
                    $"({desired.Replicas} replicas, min {desired.MinReplicas}, {desired.PgCount} PGs, failure domain {desired.FailureDomain})", pool.Source.Location);
                return;
            }

            if (current.FailureDomain != desired.FailureDomain)
            {
                Refuse("pool", pool.Name, $"failure_domain cannot change ({current.FailureDomain} -> {desired.FailureDomain}): create a new pool and move the volumes", pool.Source.At("failure_domain"));
                return;
            }

            var set = new PoolSet { Name = pool.Name };
            var differences = new List<string>();
            if (current.Replicas != desired.Replicas)
            {
                set.Replicas = desired.Replicas;
                differences.Add(Arrow("replicas", current.Replicas, desired.Replicas));
            }

            if (current.MinReplicas != desired.MinReplicas)
            {
                set.MinReplicas = desired.MinReplicas;
                differences.Add(Arrow("min_replicas", current.MinReplicas, desired.MinReplicas));
            }

            if (current.PgCount != desired.PgCount)
            {
                if (_map.Volumes.Any(volume => volume.PoolId == current.Id))
                {
                    Refuse("pool", pool.Name, $"pg_count cannot change ({current.PgCount} -> {desired.PgCount}) while the pool holds volumes", pool.Source.At("pg_count"));
                }
                else
                {
                    set.PgCount = desired.PgCount;
                    differences.Add(Arrow("pg_count", current.PgCount, desired.PgCount));
                }
            }

            if (differences.Count == 0)
            {
                if (!_errors.Any(error => error.Kind == "pool" && error.Name == pool.Name))
                {
                    Line(PlanAction.Unchanged, "pool", pool.Name, "(unchanged)");
                }

                return;
            }

            TryChange(new MapChange { PoolSet = set }, PlanAction.Update, "pool", pool.Name, string.Join(", ", differences), pool.Source.Location);
        }

        // ---- volumes ----

        private void PlanVolume(VolumeConfig volume)
        {
            var pool = _working.FindPool(volume.Pool);
            var current = _map.FindVolume(volume.Name);
            if (current is null)
            {
                if (pool is null)
                {
                    Refuse("volume", volume.Name, $"its pool '{volume.Pool}' is not in the map", volume.Source.At("pool"));
                    return;
                }

                var desired = ConfigMapping.ToVolumeInfo(volume, pool.Id);
                var objectSize = volume.ObjectSize == VolumeConfig.DefaultObjectSize ? string.Empty : $", objects {volume.ObjectSize}";
                TryChange(new MapChange { VolumeCreate = new VolumeCreate { Volume = desired } }, PlanAction.Create, "volume", volume.Name,
                    $"({volume.Size} in pool {volume.Pool}{objectSize})", volume.Source.Location);
                return;
            }

            var currentPool = _map.FindPool(current.PoolId);
            if (currentPool is null || currentPool.Name != volume.Pool)
            {
                Refuse("volume", volume.Name, $"it is in pool '{currentPool?.Name ?? current.PoolId.ToString(CultureInfo.InvariantCulture)}', not '{volume.Pool}': volumes do not move between pools", volume.Source.At("pool"));
                return;
            }

            if (current.ObjectSizeBytes != (ulong)volume.ObjectSize.Bytes)
            {
                Refuse("volume", volume.Name, $"object_size cannot change ({FormatBytes(current.ObjectSizeBytes)} -> {volume.ObjectSize}): the data is striped by it", volume.Source.At("object_size"));
                return;
            }

            var size = (ulong)volume.Size.Bytes;
            if (size == current.SizeBytes)
            {
                Line(PlanAction.Unchanged, "volume", volume.Name, "(unchanged)");
            }
            else if (size < current.SizeBytes)
            {
                Refuse("volume", volume.Name, $"shrinking from {FormatBytes(current.SizeBytes)} to {volume.Size} would drop data; plans only grow volumes (shrink with the volume resize command if you mean it)", volume.Source.At("size"));
            }
            else
            {
                TryChange(new MapChange { VolumeResize = new VolumeResize { Name = volume.Name, SizeBytes = size } }, PlanAction.Update, "volume", volume.Name,
                    Arrow("size", FormatBytes(current.SizeBytes), volume.Size.ToString()), volume.Source.At("size"));
            }
        }

        // ---- networks ----

        private static string DescribeSegment(NetworkInfo network) =>
            network.Kind == "vxlan" ? $"vxlan {network.Vni}" : $"{network.Kind} {network.Vlan}";

        private void PlanNetwork(NetworkConfig network)
        {
            var desired = ConfigMapping.ToNetworkInfo(network);
            var current = _map.FindNetwork(network.Name);
            if (current is null)
            {
                TryChange(new MapChange { NetworkUpsert = new NetworkUpsert { Network = desired } }, PlanAction.Create, "network", network.Name,
                    $"({DescribeSegment(desired)}, {desired.Subnet})", network.Source.Location);
                return;
            }

            if (current.Kind != desired.Kind)
            {
                Refuse("network", network.Name, $"kind cannot change ({current.Kind} -> {desired.Kind}): create a network with another name and move the NICs", network.Source.At("kind"));
                return;
            }

            var differences = new List<string>();
            if (current.Vlan != desired.Vlan)
            {
                differences.Add(Arrow("vlan", current.Vlan, desired.Vlan));
            }

            if (current.Vni != desired.Vni)
            {
                differences.Add(Arrow("vni", current.Vni, desired.Vni));
            }

            AddIfDifferent(differences, "subnet", current.Subnet, desired.Subnet);
            AddIfDifferent(differences, "gateway", current.Gateway, desired.Gateway);
            if (current.Mtu != desired.Mtu)
            {
                differences.Add(Arrow("mtu", current.Mtu, desired.Mtu));
            }

            AddIfDifferent(differences, "uplink", current.Uplink, desired.Uplink);
            if (!current.Acl.SequenceEqual(desired.Acl))
            {
                differences.Add(Arrow("acl", Rules(current.Acl.Count), Rules(desired.Acl.Count)) + (current.Acl.Count == desired.Acl.Count ? " (rules changed)" : string.Empty));
            }

            // Anything else (a field the config does not set, an id) is not a difference the config asks for.
            var comparable = current.Clone();
            comparable.Id = 0;
            if (differences.Count == 0 || comparable.Equals(desired))
            {
                Line(PlanAction.Unchanged, "network", network.Name, "(unchanged)");
                return;
            }

            TryChange(new MapChange { NetworkUpsert = new NetworkUpsert { Network = desired } }, PlanAction.Update, "network", network.Name,
                string.Join(", ", differences), network.Source.Location);
        }

        private static string Rules(int count) => count == 1 ? "1 rule" : $"{count} rules";

        // ---- VMs ----

        private void PlanVm(VmConfig vm)
        {
            var desired = ConfigMapping.ToVmSpec(vm, _config, _scope.Boot);
            if (vm.Node is { } pinned && _working.FindNode(pinned) is null)
            {
                Refuse("vm", vm.Name, $"it is pinned to node '{pinned}', which has not joined the cluster yet; start the node, then plan again", vm.Source.At("node"));
                return;
            }

            var current = _map.FindVm(vm.Name);
            if (current is null)
            {
                var where = vm.Node is null ? "scheduled" : $"on {vm.Node}";
                var vcpus = vm.Vcpus == 1 ? "1 vCPU" : $"{vm.Vcpus} vCPUs";
                TryChange(new MapChange { VmCreate = new VmCreate { Spec = desired } }, PlanAction.Create, "vm", vm.Name,
                    $"({vcpus}, {vm.Memory}, {where})", vm.Source.Location);
                return;
            }

            if (current.Spec.Equals(desired))
            {
                Line(PlanAction.Unchanged, "vm", vm.Name, "(unchanged)");
                return;
            }

            var differences = DescribeSpecChanges(current.Spec, desired);
            if (current.State is VmState.Running or VmState.Paused or VmState.Migrating or VmState.Starting)
            {
                differences += $" (the VM is {current.State.StateText()}: it uses the new spec from its next start)";
            }

            var update = new VmUpdate { Name = vm.Name, Spec = desired };
            update.Fields.Add("spec");
            TryChange(new MapChange { VmUpdate = update }, PlanAction.Update, "vm", vm.Name, differences, vm.Source.Location);
        }

        private static string DescribeSpecChanges(VmSpec current, VmSpec desired)
        {
            var differences = new List<string>();
            if (current.Vcpus != desired.Vcpus)
            {
                differences.Add(Arrow("vcpus", current.Vcpus, desired.Vcpus));
            }

            if (current.MemoryBytes != desired.MemoryBytes)
            {
                differences.Add(Arrow("memory", FormatBytes(current.MemoryBytes), FormatBytes(desired.MemoryBytes)));
            }

            AddIfDifferent(differences, "node", current.Node, desired.Node);
            AddIfDifferent(differences, "disks", DescribeDisks(current), DescribeDisks(desired));
            AddIfDifferent(differences, "nics", DescribeNics(current), DescribeNics(desired));
            AddIfDifferent(differences, "kernel", current.Kernel, desired.Kernel);
            AddIfDifferent(differences, "initrd", current.Initrd, desired.Initrd);
            if (current.Cmdline != desired.Cmdline)
            {
                differences.Add("cmdline changed");
            }

            if (current.BootFromDisk != desired.BootFromDisk)
            {
                differences.Add(Arrow("boot_from_disk", current.BootFromDisk, desired.BootFromDisk));
            }

            if (current.Ha != desired.Ha)
            {
                differences.Add(Arrow("ha", current.Ha, desired.Ha));
            }

            AddIfDifferent(differences, "accel", current.Accel, desired.Accel);
            AddIfDifferent(differences, "restart", current.Restart, desired.Restart);
            if (current.StopTimeoutMs != desired.StopTimeoutMs)
            {
                differences.Add(Arrow("stop_timeout", FormatMs(current.StopTimeoutMs), FormatMs(desired.StopTimeoutMs)));
            }

            return differences.Count > 0 ? string.Join(", ", differences) : "spec changed";
        }

        private static string DescribeDisks(VmSpec spec) =>
            "[" + string.Join(", ", spec.Disks.Select(disk =>
                disk.Volume
                + (disk.Transport is "" or "vhost-user" ? string.Empty : $" ({disk.Transport})")
                + (disk.ReadOnly ? " (read-only)" : string.Empty)
                + (disk.Cache.Length > 0 ? $" (cache {disk.Cache})" : string.Empty))) + "]";

        private static string DescribeNics(VmSpec spec) =>
            "[" + string.Join(", ", spec.Nics.Select(nic =>
                $"{nic.Network} {nic.Mac}" + (nic.Ip.Length > 0 ? " " + nic.Ip : string.Empty) + (nic.Port.Length > 0 ? $" port {nic.Port}" : string.Empty))) + "]";
    }
}
