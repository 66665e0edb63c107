using System.Globalization;
using Fabric.Config.Loading;
using Fabric.Config.Model;

namespace Fabric.Config.Validation;

/// <summary>
/// The rules that span entries of a config: unique names and endpoints, references that resolve, a
/// volume attached to one VM only, VM addresses inside their network, pools that the nodes can satisfy.
/// <para>Decisions:</para>
/// <list type="bullet">
/// <item>replicas greater than the number of distinct failure domains is a <b>warning</b> (PGs stay
/// undersized but I/O works, as in Ceph); min_replicas greater than it is an <b>error</b> (I/O would
/// wait forever).</item>
/// <item>A volume attached to several VMs is an error unless every attachment is read_only (the
/// exclusive lock allows one writer).</item>
/// <item>VMs pinned to a node whose vm_memory they exceed in total is a warning (the scheduler cannot
/// start them all); a VM pinned to a node offering no VM memory or CPUs is an error.</item>
/// </list>
/// </summary>
public static class ConfigValidator
{
    /// <summary>Checks a config (for example one built in code); returns the problems found.</summary>
    public static IReadOnlyList<ConfigError> Validate(ClusterConfig config)
    {
        var errors = new ConfigErrorList();
        Validate(config, new ConfigGaps(), errors);
        return errors.Items;
    }

    internal static void Validate(ClusterConfig config, ConfigGaps gaps, ConfigErrorList errors)
    {
        CheckUniqueNames(config.Nodes, node => node.Name, node => node.Source, "node", errors);
        CheckUniqueNames(config.Pools, pool => pool.Name, pool => pool.Source, "pool", errors);
        CheckUniqueNames(config.Volumes, volume => volume.Name, volume => volume.Source, "volume", errors);
        CheckUniqueNames(config.Networks, network => network.Name, network => network.Source, "network", errors);
        CheckUniqueNames(config.Vms, vm => vm.Name, vm => vm.Source, "vm", errors);

        if (config.Nodes.Count == 0 && gaps.Nodes.Count == 0)
        {
            errors.Error(new SourceLocation(config.FileName, 1, 1), "node", "no [[node]] entries: a cluster needs at least one node");
        }

        if (!gaps.ClusterFailed)
        {
            CheckMonitors(config, gaps, errors);
        }

        CheckNodeEndpoints(config, errors);
        CheckPools(config, gaps, errors);
        CheckVolumes(config, gaps, errors);
        CheckNetworks(config, errors);
        CheckVms(config, gaps, errors);
    }

    private static void CheckUniqueNames<T>(IReadOnlyList<T> items, Func<T, string> name, Func<T, ConfigSource> source, string kind, ConfigErrorList errors)
    {
        var seen = new Dictionary<string, ConfigSource>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var itemSource = source(item);
            if (seen.TryGetValue(name(item), out var first))
            {
                errors.Error(itemSource, "name", $"duplicate {kind} name '{name(item)}': already used by {first.Path} at {first.At("name")}");
            }
            else
            {
                seen.Add(name(item), itemSource);
            }
        }
    }

    private static string Suggest(string name, IEnumerable<string> known)
    {
        var list = known.ToList();
        if (list.Count == 0)
        {
            return " (none are defined)";
        }

        var closest = KeySuggester.Closest(name, list);
        return closest is not null ? $"; did you mean '{closest}'?" : $" (defined: {string.Join(", ", list)})";
    }

    // ---- cluster ----

    private static void CheckMonitors(ClusterConfig config, ConfigGaps gaps, ConfigErrorList errors)
    {
        var cluster = config.Cluster;
        var source = cluster.Source;
        if (cluster.Monitors.Count == 0)
        {
            if (config.Nodes.Count > 0)
            {
                errors.Error(source, "monitors", "no monitors: list at least one node, e.g. monitors = [\"" + config.Nodes[0].Name + "\"]");
            }

            return;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < cluster.Monitors.Count; i++)
        {
            var monitor = cluster.Monitors[i];
            var path = $"{source.PathOf("monitors")}[{i}]";
            if (!seen.Add(monitor))
            {
                errors.Error(source.At("monitors"), path, $"monitor '{monitor}' is listed twice");
            }
            else if (config.FindNode(monitor) is null && !gaps.Nodes.Contains(monitor))
            {
                errors.Error(source.At("monitors"), path, $"monitor '{monitor}' is not a [[node]]{Suggest(monitor, config.Nodes.Select(node => node.Name).Concat(gaps.Nodes))}");
            }
        }

        if (cluster.Monitors.Count > 1 && cluster.Etcd is null)
        {
            errors.Error(source, "monitors", $"{cluster.Monitors.Count} monitors need a [cluster.etcd] section: without etcd there is one monitor, which keeps the map in its own RocksDB");
        }
    }

    // ---- nodes ----

    private static bool IsWildcard(string host) => host is "0.0.0.0" or "::" or "*";

    private static bool SameListener(HostPort a, HostPort b) =>
        a.Port == b.Port && (string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) || IsWildcard(a.Host) || IsWildcard(b.Host));

    private static void CheckNodeEndpoints(ClusterConfig config, ConfigErrorList errors)
    {
        // Every TCP socket a node listens on; two nodes (or two roles of one node) must not share one.
        var tcp = new List<(HostPort Endpoint, NodeConfig Node, string Key)>();
        var udp = new List<(HostPort Endpoint, NodeConfig Node, string Key)>();
        foreach (var node in config.Nodes)
        {
            var data = node.Data.ToString();
            var mine = new List<(HostPort, NodeConfig, string)> { (node.Grpc, node, "grpc"), (new HostPort(data, node.StoragePort), node, "storage_port") };
            if (node.Metrics is { } metrics)
            {
                mine.Add((metrics, node, "metrics"));
            }

            foreach (var (endpoint, owner, key) in mine)
            {
                var clash = tcp.FirstOrDefault(other => SameListener(other.Endpoint, endpoint));
                if (clash.Node is not null)
                {
                    var who = ReferenceEquals(clash.Node, owner) ? $"this node's {clash.Key}" : $"node '{clash.Node.Name}' ({clash.Node.Source.PathOf(clash.Key)} at {clash.Node.Source.At(clash.Key)})";
                    errors.Error(owner.Source, key, $"TCP endpoint {endpoint} is already used by {who}");
                }

                tcp.Add((endpoint, owner, key));
            }

            var vxlan = new HostPort(data, node.VxlanPort);
            var udpClash = udp.FirstOrDefault(other => SameListener(other.Endpoint, vxlan));
            if (udpClash.Node is not null)
            {
                errors.Error(node.Source, node.Source.Has("vxlan_port") ? "vxlan_port" : "data", $"VXLAN endpoint {vxlan} (UDP) is already used by node '{udpClash.Node.Name}'; give each node its own data address or vxlan_port");
            }

            udp.Add((vxlan, node, "vxlan_port"));
        }
    }

    // ---- pools ----

    private static void CheckPools(ClusterConfig config, ConfigGaps gaps, ConfigErrorList errors)
    {
        if (config.Nodes.Count == 0 || gaps.Nodes.Count > 0)
        {
            // Counting failure domains over a partial node list would give wrong advice.
            return;
        }

        foreach (var pool in config.Pools)
        {
            int domains;
            string level;
            if (pool.FailureDomain == PoolFailureDomain.Rack)
            {
                var rackless = config.Nodes.FirstOrDefault(node => node.RackDomain.Length == 0);
                if (rackless is not null)
                {
                    errors.Error(pool.Source, "failure_domain", $"pool '{pool.Name}' spreads replicas over racks, but node '{rackless.Name}' has failure_domain \"{rackless.FailureDomain}\" with no rack part (write \"rack1/{rackless.FailureDomain}\")");
                    continue;
                }

                domains = config.Nodes.Select(node => node.RackDomain).Distinct(StringComparer.Ordinal).Count();
                level = "rack";
            }
            else
            {
                domains = config.Nodes.Select(node => node.FailureDomain).Distinct(StringComparer.Ordinal).Count();
                level = "host";
            }

            var domainText = string.Create(CultureInfo.InvariantCulture, $"{domains} distinct {level}{(domains == 1 ? string.Empty : "s")}");
            if (pool.MinReplicas > domains)
            {
                errors.Error(pool.Source, pool.Source.Has("min_replicas") ? "min_replicas" : "replicas",
                    $"pool '{pool.Name}' needs {pool.MinReplicas} replicas in distinct {level}s for I/O (min_replicas), but the nodes have only {domainText}: writes would wait forever");
            }
            else if (pool.Replicas > domains)
            {
                errors.Warning(pool.Source, "replicas",
                    $"pool '{pool.Name}' wants {pool.Replicas} replicas in distinct {level}s but the nodes have only {domainText}: its placement groups stay undersized (degraded) until more {level}s join");
            }
        }
    }

    // ---- volumes ----

    private static void CheckVolumes(ClusterConfig config, ConfigGaps gaps, ConfigErrorList errors)
    {
        foreach (var volume in config.Volumes)
        {
            if (config.FindPool(volume.Pool) is null && !gaps.Pools.Contains(volume.Pool))
            {
                errors.Error(volume.Source, "pool", $"volume '{volume.Name}' is in pool '{volume.Pool}', which is not defined{Suggest(volume.Pool, config.Pools.Select(pool => pool.Name).Concat(gaps.Pools))}");
            }
        }
    }

    // ---- networks ----

    private static void CheckNetworks(ClusterConfig config, ConfigErrorList errors)
    {
        var vlans = new Dictionary<int, NetworkConfig>();
        var vnis = new Dictionary<int, NetworkConfig>();
        foreach (var network in config.Networks)
        {
            if (network.Vlan is { } vlan && !vlans.TryAdd(vlan, network))
            {
                errors.Error(network.Source, "vlan", $"VLAN id {vlan} is already used by network '{vlans[vlan].Name}' ({vlans[vlan].Source.At("vlan")}); frames of the two networks would mix");
            }

            if (network.Vni is { } vni && !vnis.TryAdd(vni, network))
            {
                errors.Error(network.Source, "vni", $"VNI {vni} is already used by network '{vnis[vni].Name}' ({vnis[vni].Source.At("vni")}); frames of the two networks would mix");
            }
        }
    }

    // ---- vms ----

    private static void CheckVms(ClusterConfig config, ConfigGaps gaps, ConfigErrorList errors)
    {
        var volumeUsers = new Dictionary<string, List<(VmConfig Vm, VmDiskConfig Disk)>>(StringComparer.Ordinal);
        var macs = new Dictionary<string, (VmConfig Vm, VmNicConfig Nic)>(StringComparer.Ordinal);
        var ips = new Dictionary<(string Network, string Ip), (VmConfig Vm, VmNicConfig Nic)>();
        var ports = new Dictionary<string, VmNicConfig>(StringComparer.Ordinal);
        var memoryByNode = new Dictionary<string, long>(StringComparer.Ordinal);

        foreach (var vm in config.Vms)
        {
            if (vm.Node is { } nodeName)
            {
                var node = config.FindNode(nodeName);
                if (node is null)
                {
                    if (!gaps.Nodes.Contains(nodeName))
                    {
                        errors.Error(vm.Source, "node", $"vm '{vm.Name}' is pinned to node '{nodeName}', which is not defined{Suggest(nodeName, config.Nodes.Select(n => n.Name).Concat(gaps.Nodes))}");
                    }
                }
                else
                {
                    CheckVmFitsNode(vm, node, memoryByNode, errors);
                }
            }

            foreach (var disk in vm.Disks)
            {
                if (config.FindVolume(disk.Volume) is null)
                {
                    if (!gaps.Volumes.Contains(disk.Volume))
                    {
                        errors.Error(disk.Source, "volume", $"vm '{vm.Name}' uses volume '{disk.Volume}', which is not defined{Suggest(disk.Volume, config.Volumes.Select(v => v.Name).Concat(gaps.Volumes))}");
                    }

                    continue;
                }

                if (!volumeUsers.TryGetValue(disk.Volume, out var users))
                {
                    volumeUsers[disk.Volume] = users = [];
                }

                if (users.Any(user => ReferenceEquals(user.Vm, vm)))
                {
                    errors.Error(disk.Source, "volume", $"vm '{vm.Name}' attaches volume '{disk.Volume}' twice");
                    continue;
                }

                var writer = users.FirstOrDefault(user => !user.Disk.ReadOnly || !disk.ReadOnly);
                if (users.Count > 0 && writer.Vm is not null)
                {
                    errors.Error(disk.Source, "volume", $"volume '{disk.Volume}' is already used by vm '{writer.Vm.Name}' ({writer.Disk.Source.At("volume")}); a volume has one writer (share it only with read_only = true everywhere)");
                }

                users.Add((vm, disk));
            }

            foreach (var nic in vm.Nics)
            {
                CheckNic(config, gaps, vm, nic, macs, ips, ports, errors);
            }
        }
    }

    private static void CheckVmFitsNode(VmConfig vm, NodeConfig node, Dictionary<string, long> memoryByNode, ConfigErrorList errors)
    {
        if (node.VmMemory.Bytes == 0 || node.VmCpus == 0)
        {
            errors.Error(vm.Source, "node", $"vm '{vm.Name}' is pinned to node '{node.Name}', which offers no {(node.VmMemory.Bytes == 0 ? "vm_memory" : "vm_cpus")} (set it in {node.Source.Path})");
            return;
        }

        if (vm.Vcpus > node.VmCpus)
        {
            errors.Warning(vm.Source, "vcpus", $"vm '{vm.Name}' has {vm.Vcpus} vCPUs but node '{node.Name}' offers {node.VmCpus} (vm_cpus): CPUs are overcommitted");
        }

        memoryByNode.TryGetValue(node.Name, out var used);
        used += vm.Memory.Bytes;
        memoryByNode[node.Name] = used;
        if (used > node.VmMemory.Bytes)
        {
            errors.Warning(vm.Source, "memory", $"the VMs pinned to node '{node.Name}' need {new Core.Units.ByteSize(used)} of memory, more than its vm_memory {node.VmMemory}: they cannot all run there");
        }
    }

    private static void CheckNic(
        ClusterConfig config,
        ConfigGaps gaps,
        VmConfig vm,
        VmNicConfig nic,
        Dictionary<string, (VmConfig Vm, VmNicConfig Nic)> macs,
        Dictionary<(string Network, string Ip), (VmConfig Vm, VmNicConfig Nic)> ips,
        Dictionary<string, VmNicConfig> ports,
        ConfigErrorList errors)
    {
        if (macs.TryGetValue(nic.Mac.Text, out var macOwner))
        {
            errors.Error(nic.Source, "mac", $"MAC address {nic.Mac} is already used by vm '{macOwner.Vm.Name}' ({macOwner.Nic.Source.At("mac")})");
        }
        else
        {
            macs.Add(nic.Mac.Text, (vm, nic));
        }

        if (nic.Port is { } port)
        {
            if (!ports.TryAdd(port, nic))
            {
                errors.Error(nic.Source, "port", $"switch port name '{port}' is already used ({ports[port].Source.At("port")})");
            }
        }

        var network = config.FindNetwork(nic.Network);
        if (network is null)
        {
            if (!gaps.Networks.Contains(nic.Network))
            {
                errors.Error(nic.Source, "network", $"vm '{vm.Name}' has a NIC on network '{nic.Network}', which is not defined{Suggest(nic.Network, config.Networks.Select(n => n.Name).Concat(gaps.Networks))}");
            }

            return;
        }

        if (nic.Ip is not { } ip)
        {
            return;
        }

        var subnet = network.Subnet;
        if (!subnet.Contains(ip.Address))
        {
            errors.Error(nic.Source, "ip", $"{ip} is outside network '{network.Name}' ({subnet})");
            return;
        }

        if (ip.PrefixLength != subnet.PrefixLength)
        {
            errors.Error(nic.Source, "ip", $"{ip} has prefix /{ip.PrefixLength} but network '{network.Name}' is {subnet}; write {ip.Address}/{subnet.PrefixLength}");
        }

        if (ip.Address.Equals(subnet.BaseAddress) || ip.Address.Equals(Ipv4.Broadcast(subnet)))
        {
            errors.Error(nic.Source, "ip", $"{ip.Address} is the {(ip.Address.Equals(subnet.BaseAddress) ? "network" : "broadcast")} address of {subnet}; use a host address");
        }
        else if (network.Gateway is { } gateway && gateway.Equals(ip.Address))
        {
            errors.Error(nic.Source, "ip", $"{ip.Address} is network '{network.Name}''s gateway ({network.Source.At("gateway")})");
        }

        var key = (network.Name, ip.Address.ToString());
        if (ips.TryGetValue(key, out var ipOwner))
        {
            errors.Error(nic.Source, "ip", $"IP {ip.Address} on network '{network.Name}' is already used by vm '{ipOwner.Vm.Name}' ({ipOwner.Nic.Source.At("ip")})");
        }
        else
        {
            ips.Add(key, (vm, nic));
        }
    }
}
