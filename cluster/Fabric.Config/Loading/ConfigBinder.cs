using System.Net;
using Fabric.Config.Model;
using Fabric.Config.Toml;
using Fabric.Config.Validation;
using Fabric.Core.Io;
using Fabric.Core.Units;

namespace Fabric.Config.Loading;

/// <summary>
/// Turns a TOML document into the config model, one table at a time: key names, types, formats,
/// ranges, defaults, and the rules that involve only one table (a vlan network has a vlan id, a gateway
/// lies in its subnet, ...). Rules across tables are <see cref="ConfigValidator"/>'s. An entry with an
/// error is left out of the model, but its name is remembered in <see cref="ConfigGaps"/> so that the
/// validator does not also report every reference to it as undefined.
/// </summary>
internal sealed class ConfigBinder
{
    private static readonly (string, PoolFailureDomain)[] PoolDomains = [("host", PoolFailureDomain.Host), ("rack", PoolFailureDomain.Rack)];
    private static readonly (string, NetworkKind)[] NetworkKinds = [("vlan", NetworkKind.Vlan), ("vxlan", NetworkKind.Vxlan)];
    private static readonly (string, AclAction)[] AclActions = [("allow", AclAction.Allow), ("deny", AclAction.Deny)];
    private static readonly (string, AclDirection)[] AclDirections = [("in", AclDirection.In), ("out", AclDirection.Out)];
    private static readonly (string, AclProtocol)[] AclProtocols =
        [("tcp", AclProtocol.Tcp), ("udp", AclProtocol.Udp), ("icmp", AclProtocol.Icmp), ("any", AclProtocol.Any)];
    private static readonly (string, VmRestartPolicy)[] RestartPolicies = [("no", VmRestartPolicy.No), ("on-crash", VmRestartPolicy.OnCrash)];
    private static readonly (string, VmAccel)[] Accels = [("auto", VmAccel.Auto), ("kvm", VmAccel.Kvm), ("tcg", VmAccel.Tcg)];
    private static readonly (string, DiskTransport)[] Transports = [("vhost-user", DiskTransport.VhostUser), ("nbd", DiskTransport.Nbd)];

    private readonly string _file;
    private readonly ConfigErrorList _errors;

    public ConfigBinder(string file, ConfigErrorList errors)
    {
        _file = file;
        _errors = errors;
    }

    public ConfigGaps Gaps { get; } = new();

    public ClusterConfig Bind(TomlDocument document)
    {
        var root = new TableReader(document.Root, string.Empty, _file, _errors);
        var clusterTable = root.Table("cluster");
        var nodes = BindAll(root.Tables("node", "node"), BindNode, Gaps.Nodes);
        var pools = BindAll(root.Tables("pool", "pool"), BindPool, Gaps.Pools);
        var volumes = BindAll(root.Tables("volume", "volume"), BindVolume, Gaps.Volumes);
        var networks = BindAll(root.Tables("network", "network"), BindNetwork, Gaps.Networks);
        var vms = BindAll(root.Tables("vm", "vm"), BindVm, Gaps.Vms);

        ClusterSection? cluster = null;
        if (clusterTable is null && !document.Root.ContainsKey("cluster"))
        {
            _errors.Error(new SourceLocation(_file, 1, 1), "cluster", "missing the [cluster] table (it names the cluster and its monitors)");
        }
        else if (clusterTable is not null)
        {
            cluster = BindCluster(clusterTable, nodes);
        }

        root.ReportUnknownKeys();
        if (cluster is null)
        {
            Gaps.ClusterFailed = true;
            cluster = new ClusterSection { Name = string.Empty, Monitors = [], Source = clusterTable?.Source() ?? ConfigSource.None };
        }

        return new ClusterConfig
        {
            FileName = _file,
            Cluster = cluster,
            Nodes = nodes,
            Pools = pools,
            Volumes = volumes,
            Networks = networks,
            Vms = vms,
        };
    }

    /// <summary>
    /// A file of <c>[[vm]]</c> tables only (<c>fabric vm create -f FILE</c>): each table is bound as in a
    /// cluster config; any other top-level key is reported as unknown. References (volumes, networks,
    /// nodes) are the map's to check.
    /// </summary>
    public IReadOnlyList<VmConfig> BindVmFile(TomlDocument document)
    {
        var root = new TableReader(document.Root, string.Empty, _file, _errors);
        var vms = BindAll(root.Tables("vm", "vm"), BindVm, Gaps.Vms);
        root.ReportUnknownKeys();
        return vms;
    }

    private static List<T> BindAll<T>(IReadOnlyList<TableReader> tables, Func<TableReader, T?> bind, HashSet<string> gaps)
        where T : class
    {
        var bound = new List<T>(tables.Count);
        foreach (var table in tables)
        {
            var item = bind(table);
            table.ReportUnknownKeys();
            if (item is not null && !table.HasErrors)
            {
                bound.Add(item);
            }
            else if (table.PeekString("name") is { } name)
            {
                gaps.Add(name);
            }
        }

        return bound;
    }

    // ---- [cluster] ----

    private ClusterSection? BindCluster(TableReader table, IReadOnlyList<NodeConfig> nodes)
    {
        var name = table.Name("name", required: true);
        var monitors = table.StringArray("monitors", expected: "an array of node names");
        var heartbeatInterval = table.Duration("heartbeat_interval") ?? ClusterSection.DefaultHeartbeatInterval;
        var heartbeatGrace = table.Duration("heartbeat_grace") ?? ClusterSection.DefaultHeartbeatGrace;
        var downOut = table.Duration("down_out_interval") ?? ClusterSection.DefaultDownOutInterval;
        var etcdTable = table.Table("etcd");
        EtcdConfig? etcd = null;
        if (etcdTable is not null)
        {
            etcd = BindEtcd(etcdTable, name);
            etcdTable.ReportUnknownKeys();
        }

        // The map keeps these in milliseconds as uint32; anything near that bound is a typo anyway.
        CheckDurationRange(table, "heartbeat_interval", heartbeatInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        CheckDurationRange(table, "heartbeat_grace", heartbeatGrace, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        CheckDurationRange(table, "down_out_interval", downOut, TimeSpan.FromSeconds(1), TimeSpan.FromDays(7));
        if (table.Has("heartbeat_grace") || table.Has("heartbeat_interval"))
        {
            if (heartbeatGrace <= heartbeatInterval)
            {
                table.Error("heartbeat_grace", $"heartbeat_grace ({DurationText.Format(heartbeatGrace)}) must be longer than heartbeat_interval ({DurationText.Format(heartbeatInterval)}), or every node is marked down between two heartbeats");
            }
        }

        if ((table.Has("down_out_interval") || table.Has("heartbeat_grace")) && downOut < heartbeatGrace)
        {
            table.Error("down_out_interval", $"down_out_interval ({DurationText.Format(downOut)}) must not be shorter than heartbeat_grace ({DurationText.Format(heartbeatGrace)}): a node is marked out only after it is down");
        }

        table.ReportUnknownKeys();
        if (name is null || table.HasErrors)
        {
            return null;
        }

        IReadOnlyList<string> monitorNames = monitors is not null
            ? monitors.Select(monitor => monitor.Value).ToList()
            : nodes.Count > 0 ? [nodes[0].Name] : [];
        return new ClusterSection
        {
            Name = name,
            Monitors = monitorNames,
            HeartbeatInterval = heartbeatInterval,
            HeartbeatGrace = heartbeatGrace,
            DownOutInterval = downOut,
            Etcd = etcd,
            Source = table.Source(),
        };
    }

    private static void CheckDurationRange(TableReader table, string key, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (table.Has(key) && (value < min || value > max))
        {
            table.Error(key, $"{DurationText.Format(value)} is out of range; expected {DurationText.Format(min)} to {DurationText.Format(max)}");
        }
    }

    private static EtcdConfig? BindEtcd(TableReader table, string? clusterName)
    {
        var endpoints = table.StringArray("endpoints", required: true, expected: "an array of etcd client URLs such as [\"http://127.0.0.1:2379\"]");
        var prefix = table.String("prefix", expected: "a key prefix starting with '/'");
        var uris = new List<Uri>();
        if (endpoints is not null)
        {
            if (endpoints.Count == 0)
            {
                table.Error("endpoints", "expected at least one etcd client URL such as \"http://127.0.0.1:2379\"");
            }

            for (var i = 0; i < endpoints.Count; i++)
            {
                var (text, at) = endpoints[i];
                if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                    && !uri.IsDefaultPort && uri.AbsolutePath == "/")
                {
                    uris.Add(uri);
                }
                else
                {
                    table.Errors.Error(at, $"{table.PathOf("endpoints")}[{i}]", $"expected an etcd client URL with scheme and port such as \"http://127.0.0.1:2379\", found \"{text}\"");
                }
            }
        }

        if (prefix is not null && (!prefix.StartsWith('/') || prefix.Length < 2 || prefix.EndsWith('/')))
        {
            table.Error("prefix", $"expected a key prefix such as \"/fabric/example\" (starts with '/', does not end with '/'), found \"{prefix}\"");
        }

        if (table.HasErrors)
        {
            return null;
        }

        return new EtcdConfig
        {
            Endpoints = uris,
            Prefix = prefix ?? $"/fabric/{clusterName}",
            Source = table.Source(),
        };
    }

    // ---- [[node]] ----

    private NodeConfig? BindNode(TableReader table)
    {
        var name = table.Name("name", required: true);
        var grpc = table.Parsed<HostPort>("grpc", HostPort.TryParse, HostPort.Expected, required: true);
        var data = table.ParsedObject<IPAddress>("data", TryParseIp, "an IP address such as \"127.0.0.1\"", required: true);
        var storagePort = table.Int("storage_port", 1, 65535) ?? NodeConfig.DefaultStoragePort;
        var metrics = table.Parsed<HostPort>("metrics", HostPort.TryParse, HostPort.Expected);
        var failureDomain = table.String("failure_domain", expected: "a failure-domain path such as \"rack1/host1\"");
        var capacity = table.Size("capacity", required: true);
        var vmMemory = table.Size("vm_memory") ?? ByteSize.Zero;
        var vmCpus = table.Int("vm_cpus", 0, 4096) ?? 0;
        var vmMemoryPrealloc = table.Boolean("vm_memory_prealloc") ?? true;
        var storagePath = table.String("storage_path", expected: "a directory path");
        var uplink = table.String("uplink", expected: NameRules.InterfaceExpected);
        var vxlanPort = table.Int("vxlan_port", 1, 65535) ?? NodeConfig.DefaultVxlanPort;
        var blockCache = table.Size("block_cache") ?? ByteSize.Zero;
        var writeCache = table.Size("write_cache") ?? ByteSize.Zero;

        if (failureDomain is not null && !IsValidFailureDomain(failureDomain))
        {
            table.Error("failure_domain", $"expected a failure-domain path such as \"rack1/host1\" (names separated by '/', each {NameRules.Expected}), found \"{failureDomain}\"");
        }

        if (capacity is { Bytes: 0 })
        {
            table.Error("capacity", "capacity must be more than 0: it is the storage this node offers");
        }

        if (blockCache.Bytes != 0 && (!blockCache.IsPowerOfTwo || blockCache < ByteSize.FromMiB(16)))
        {
            var up = blockCache < ByteSize.FromMiB(16) ? ByteSize.FromMiB(16) : new ByteSize(1L << (64 - (int)long.LeadingZeroCount(blockCache.Bytes - 1)));
            table.Error("block_cache", $"expected a power of two of at least 16MiB (the cache's memory), found {blockCache}; use {up}, or leave the key out for no cache");
        }

        if (writeCache.Bytes != 0 && (writeCache < ByteSize.FromMiB(1) || writeCache > ByteSize.FromMiB(1024)))
        {
            table.Error("write_cache", $"expected from 1MiB to 1GiB (the most acknowledged, unflushed data the node holds per volume), found {writeCache}; use \"32MiB\", or leave the key out to write through");
        }

        if (storagePath is not null && storagePath.Trim().Length == 0)
        {
            table.Error("storage_path", "expected a directory path, found an empty string (leave the key out for the default $FABRIC_HOME/data/<name>)");
        }

        if (uplink is not null && !NameRules.IsValidInterfaceName(uplink))
        {
            table.Error("uplink", $"expected {NameRules.InterfaceExpected}, found \"{uplink}\"");
        }

        if (name is null || grpc is null || data is null || capacity is null || table.HasErrors)
        {
            return null;
        }

        return new NodeConfig
        {
            Name = name,
            Grpc = grpc.Value,
            Data = data,
            StoragePort = storagePort,
            Metrics = metrics,
            FailureDomain = failureDomain ?? name,
            Capacity = capacity.Value,
            VmMemory = vmMemory,
            VmCpus = vmCpus,
            VmMemoryPrealloc = vmMemoryPrealloc,
            StoragePath = storagePath,
            Uplink = uplink,
            VxlanPort = vxlanPort,
            BlockCache = blockCache,
            WriteCache = writeCache,
            Source = table.Source(),
        };
    }

    private static bool TryParseIp(string text, out IPAddress value, out string? error)
    {
        if (Ipv4.TryParseAddress(text, out var v4))
        {
            value = v4;
            error = null;
            return true;
        }

        if (text.Contains(':') && IPAddress.TryParse(text, out var v6))
        {
            value = v6;
            error = null;
            return true;
        }

        value = IPAddress.None;
        error = text.Contains(':') && !text.Contains("::") && text.Count(c => c == ':') == 1
            ? $"expected an IP address without a port, found \"{text}\""
            : $"expected an IP address such as \"127.0.0.1\", found \"{text}\"";
        return false;
    }

    private static bool IsValidFailureDomain(string path) =>
        path.Split('/').All(NameRules.IsValidName);

    // ---- [[pool]] ----

    private static PoolConfig? BindPool(TableReader table)
    {
        var name = table.Name("name", required: true);
        var replicas = table.Int("replicas", 1, 16) ?? PoolConfig.DefaultReplicas;
        var minReplicas = table.Int("min_replicas", 1, 16);
        var pgCount = table.Int("pg_count", 1, 65536, expected: "a power of two from 1 to 65536") ?? PoolConfig.DefaultPgCount;
        var failureDomain = table.Choice("failure_domain", PoolDomains) ?? PoolFailureDomain.Host;

        if ((pgCount & (pgCount - 1)) != 0)
        {
            var lower = 1 << (31 - int.LeadingZeroCount(pgCount));
            table.Error("pg_count", $"expected a power of two (so that placement groups split stably), found {pgCount}; use {lower} or {lower * 2}");
        }

        if (minReplicas is not null && minReplicas > replicas)
        {
            table.Error("min_replicas", $"min_replicas ({minReplicas}) must not exceed replicas ({replicas}): I/O would wait forever");
        }

        if (name is null || table.HasErrors)
        {
            return null;
        }

        return new PoolConfig
        {
            Name = name,
            Replicas = replicas,
            MinReplicas = minReplicas ?? PoolConfig.DefaultMinReplicas(replicas),
            PgCount = pgCount,
            FailureDomain = failureDomain,
            Source = table.Source(),
        };
    }

    // ---- [[volume]] ----

    private static VolumeConfig? BindVolume(TableReader table)
    {
        var name = table.Name("name", required: true);
        var pool = table.Name("pool", required: true);
        var size = table.Size("size", required: true);
        var objectSize = table.Size("object_size") ?? VolumeConfig.DefaultObjectSize;

        if (size is { } s)
        {
            if (s.Bytes == 0)
            {
                table.Error("size", "a volume size must be more than 0");
            }
            else if (s.Bytes % VolumeConfig.SizeAlignment != 0)
            {
                var up = new ByteSize(((s.Bytes / VolumeConfig.SizeAlignment) + 1) * VolumeConfig.SizeAlignment);
                table.Error("size", $"a volume size must be a whole number of 4KiB blocks, found {s.Bytes} bytes; use {up}");
            }
        }

        if (table.Has("object_size") && (!objectSize.IsPowerOfTwo || objectSize < VolumeConfig.MinObjectSize || objectSize > VolumeConfig.MaxObjectSize))
        {
            table.Error("object_size", $"expected a power of two from {VolumeConfig.MinObjectSize} to {VolumeConfig.MaxObjectSize}, found {objectSize}");
        }

        if (name is null || pool is null || size is null || table.HasErrors)
        {
            return null;
        }

        return new VolumeConfig
        {
            Name = name,
            Pool = pool,
            Size = size.Value,
            ObjectSize = objectSize,
            Source = table.Source(),
        };
    }

    // ---- [[network]] ----

    private NetworkConfig? BindNetwork(TableReader table)
    {
        var name = table.Name("name", required: true);
        var kind = table.Choice("kind", NetworkKinds, required: true);
        var vlan = table.Int("vlan", 1, 4094);
        var vni = table.Int("vni", 1, 16_777_215);
        var subnet = table.Parsed<IPNetwork>("subnet", Ipv4.TryParseNetwork, "an IPv4 network such as \"10.20.0.0/24\"", required: true);
        var gateway = table.ParsedObject<IPAddress>("gateway", TryParseIpv4, "an IPv4 address such as \"10.20.0.1\"");
        var mtu = table.Int("mtu", 576, 9000);
        var uplink = table.String("uplink", expected: NameRules.InterfaceExpected);
        var acl = table.Tables("acl", "network.acl").Select(BindAcl).ToList();

        if (kind == NetworkKind.Vlan)
        {
            if (!table.Has("vlan"))
            {
                table.Error("vlan", "a vlan network needs 'vlan', its 802.1Q id (1 to 4094)");
            }

            if (table.Has("vni"))
            {
                table.Error("vni", "'vni' is for kind = \"vxlan\"; a vlan network has 'vlan' instead");
            }
        }
        else if (kind == NetworkKind.Vxlan)
        {
            if (!table.Has("vni"))
            {
                table.Error("vni", "a vxlan network needs 'vni', its VXLAN network identifier (1 to 16777215)");
            }

            if (table.Has("vlan"))
            {
                table.Error("vlan", "'vlan' is for kind = \"vlan\"; a vxlan network has 'vni' instead");
            }

            if (uplink is not null)
            {
                table.Error("uplink", "'uplink' is for vlan networks; a vxlan network runs over the nodes' data addresses");
            }
        }

        if (subnet is { } net && net.PrefixLength > 30)
        {
            table.Error("subnet", $"subnet {net} is too small for VMs: use a prefix of /30 or shorter");
        }

        if (gateway is not null && subnet is { } network)
        {
            if (!network.Contains(gateway))
            {
                table.Error("gateway", $"gateway {gateway} is outside the subnet {network}");
            }
            else if (gateway.Equals(network.BaseAddress) || gateway.Equals(Ipv4.Broadcast(network)))
            {
                table.Error("gateway", $"gateway {gateway} is the {(gateway.Equals(network.BaseAddress) ? "network" : "broadcast")} address of {network}; use a host address");
            }
        }

        if (uplink is not null && !NameRules.IsValidInterfaceName(uplink))
        {
            table.Error("uplink", $"expected {NameRules.InterfaceExpected}, found \"{uplink}\"");
        }

        if (name is null || kind is null || subnet is null || table.HasErrors || acl.Any(rule => rule is null))
        {
            return null;
        }

        return new NetworkConfig
        {
            Name = name,
            Kind = kind.Value,
            Vlan = kind == NetworkKind.Vlan ? vlan : null,
            Vni = kind == NetworkKind.Vxlan ? vni : null,
            Subnet = subnet.Value,
            Gateway = gateway,
            Mtu = mtu ?? (kind == NetworkKind.Vxlan ? NetworkConfig.DefaultVxlanMtu : NetworkConfig.DefaultVlanMtu),
            Uplink = uplink,
            Acl = acl.Select(rule => rule!).ToList(),
            Source = table.Source(),
        };
    }

    private static bool TryParseIpv4(string text, out IPAddress value, out string? error)
    {
        if (Ipv4.TryParseAddress(text, out var address))
        {
            value = address;
            error = null;
            return true;
        }

        value = IPAddress.None;
        error = $"expected an IPv4 address such as \"10.20.0.1\", found \"{text}\"";
        return false;
    }

    private static AclRuleConfig? BindAcl(TableReader table)
    {
        var action = table.Choice("action", AclActions, required: true);
        var direction = table.Choice("direction", AclDirections) ?? AclDirection.Both;
        var protocol = table.Choice("protocol", AclProtocols) ?? AclProtocol.Any;
        var cidr = table.Parsed<IPNetwork>("cidr", Ipv4.TryParseNetwork, "an IPv4 network such as \"10.0.0.0/8\"");
        PortRange? port = null;
        if (table.Has("port"))
        {
            port = table.Value("port", required: false, PortRange.Expected) is TomlInteger integer
                ? integer.Value is >= 1 and <= 65535 ? new PortRange((int)integer.Value, (int)integer.Value) : ReportBadPort(table)
                : table.Parsed<PortRange>("port", PortRange.TryParse, PortRange.Expected);
        }

        var priority = table.Int("priority", -1_000_000, 1_000_000) ?? 0;
        if (port is not null && protocol is not (AclProtocol.Tcp or AclProtocol.Udp))
        {
            table.Error("port", $"a port applies only to protocol = \"tcp\" or \"udp\", but the rule's protocol is \"{protocol.ToString().ToLowerInvariant()}\"");
        }

        table.ReportUnknownKeys();
        if (action is null || table.HasErrors)
        {
            return null;
        }

        return new AclRuleConfig
        {
            Action = action.Value,
            Direction = direction,
            Protocol = protocol,
            Cidr = cidr,
            Port = port,
            Priority = priority,
            Source = table.Source(),
        };
    }

    private static PortRange? ReportBadPort(TableReader table)
    {
        table.Error("port", $"expected {PortRange.Expected}, found {TableReader.Describe(table.Value("port", false, PortRange.Expected)!)}");
        return null;
    }

    // ---- [[vm]] ----

    private static VmConfig? BindVm(TableReader table)
    {
        var name = table.Name("name", required: true);
        var node = table.Name("node");
        var vcpus = table.Int("vcpus", 1, 64) ?? 1;
        var memory = table.Size("memory", required: true);
        var image = table.String("image", expected: "an image name such as \"tiny\"");
        var kernel = table.String("kernel", expected: "a kernel file path");
        var initrd = table.String("initrd", expected: "an initrd file path");
        var cmdline = table.String("cmdline", expected: "a kernel command line");
        var workload = table.String("workload", expected: "a command for the guest to run");
        var ha = table.Boolean("ha") ?? false;
        var restart = table.Choice("restart", RestartPolicies) ?? VmRestartPolicy.No;
        var accel = table.Choice("accel", Accels) ?? VmAccel.Auto;
        var stopTimeout = table.Duration("stop_timeout") ?? VmConfig.DefaultStopTimeout;

        var disks = new List<VmDiskConfig?>();
        var diskNames = table.StringArray("disks", expected: "an array of volume names");
        var diskTables = table.Tables("disk", "vm.disk");
        if (diskNames is not null && diskTables.Count > 0)
        {
            table.Error("disk", "use either disks = [...] or [[vm.disk]] tables, not both");
        }

        if (diskNames is not null)
        {
            for (var i = 0; i < diskNames.Count; i++)
            {
                var (volume, at) = diskNames[i];
                if (!NameRules.IsValidName(volume))
                {
                    table.Errors.Error(at, $"{table.PathOf("disks")}[{i}]", $"\"{volume}\" is not a valid volume name; expected {NameRules.Expected}");
                    continue;
                }

                disks.Add(new VmDiskConfig
                {
                    Volume = volume,
                    Source = ConfigSource.ForValue($"{table.PathOf("disks")}[{i}]", at),
                });
            }
        }

        disks.AddRange(diskTables.Select(BindDisk));
        var nics = table.Tables("nic", "vm.nic").Select(BindNic).ToList();

        if (memory is { } m)
        {
            if (m < ByteSize.FromMiB(16))
            {
                table.Error("memory", $"{m} is too little memory for a VM; at least 16MiB");
            }
            else if (m.Bytes % ByteSize.MiB != 0)
            {
                table.Error("memory", $"VM memory must be a whole number of MiB, found {m.Bytes} bytes");
            }
        }

        if (image is not null && kernel is not null)
        {
            table.Error("kernel", "set either image (a guest image with its own kernel) or kernel (with initrd and cmdline), not both");
        }

        if (initrd is not null && kernel is null)
        {
            table.Error("initrd", "initrd needs kernel");
        }

        if (image is not null && !NameRules.IsValidName(image))
        {
            table.Error("image", $"\"{image}\" is not a valid image name; expected {NameRules.Expected}");
        }

        if (image is null && kernel is null && disks.Count == 0 && !table.HasErrors)
        {
            table.Error("image", "nothing to boot: set image (e.g. \"tiny\"), or kernel, or give the VM a disk to boot from");
        }

        if (stopTimeout < TimeSpan.FromSeconds(1) || stopTimeout > TimeSpan.FromHours(1))
        {
            table.Error("stop_timeout", $"{DurationText.Format(stopTimeout)} is out of range; expected 1s to 1h");
        }

        if (name is null || memory is null || table.HasErrors || disks.Any(disk => disk is null) || nics.Any(nic => nic is null))
        {
            return null;
        }

        return new VmConfig
        {
            Name = name,
            Node = node,
            Vcpus = vcpus,
            Memory = memory.Value,
            Image = image,
            Kernel = kernel,
            Initrd = initrd,
            Cmdline = cmdline,
            Workload = workload,
            Ha = ha,
            Restart = restart,
            Accel = accel,
            StopTimeout = stopTimeout,
            Disks = disks.Select(disk => disk!).ToList(),
            Nics = nics.Select(nic => nic!).ToList(),
            Source = table.Source(),
        };
    }

    private static VmDiskConfig? BindDisk(TableReader table)
    {
        var volume = table.Name("volume", required: true);
        var transport = table.Choice("transport", Transports) ?? DiskTransport.VhostUser;
        var readOnly = table.Boolean("read_only") ?? false;
        var cache = table.Choice("cache", DiskCacheModes.All) ?? DiskCacheMode.Default;
        table.ReportUnknownKeys();
        if (volume is null || table.HasErrors)
        {
            return null;
        }

        return new VmDiskConfig { Volume = volume, Transport = transport, ReadOnly = readOnly, Cache = cache, Source = table.Source() };
    }

    private static VmNicConfig? BindNic(TableReader table)
    {
        var network = table.Name("network", required: true);
        var mac = table.Parsed<MacAddress>("mac", MacAddress.TryParse, MacAddress.Expected, required: true);
        var ip = table.Parsed<InterfaceAddress>("ip", InterfaceAddress.TryParse, InterfaceAddress.Expected);
        var port = table.String("port", expected: NameRules.InterfaceExpected);
        if (port is not null && !NameRules.IsValidInterfaceName(port))
        {
            table.Error("port", $"expected {NameRules.InterfaceExpected}, found \"{port}\"");
        }

        table.ReportUnknownKeys();
        if (network is null || mac is null || table.HasErrors)
        {
            return null;
        }

        return new VmNicConfig { Network = network, Mac = mac.Value, Ip = ip, Port = port, Source = table.Source() };
    }
}
