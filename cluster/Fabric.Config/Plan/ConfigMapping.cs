using System.Globalization;
using System.Text;
using Fabric.Config.Model;
using Fabric.Core.Io;
using Fabric.Proto;

namespace Fabric.Config.Plan;

/// <summary>
/// Converts config entries into the map's messages. The planner compares the map against exactly
/// these messages, so what the mapping leaves out (ids, states, timestamps) is never a difference.
/// </summary>
public static class ConfigMapping
{
    /// <summary>
    /// The fields of a node that come from config, for Join: name, addresses, failure domain, capacity,
    /// VM memory and CPUs. The monitor sets id, state, incarnation and weight (capacity in TiB when 0).
    /// </summary>
    public static NodeInfo ToNodeInfo(NodeConfig node) => new()
    {
        Name = node.Name,
        GrpcAddress = node.Grpc.ToString(),
        DataAddress = node.Data.ToString(),
        StorageAddress = new HostPort(node.Data.ToString(), node.StoragePort).ToString(),
        FailureDomain = node.FailureDomain,
        CapacityBytes = (ulong)node.Capacity.Bytes,
        MemoryBytes = (ulong)node.VmMemory.Bytes,
        Cpus = (uint)node.VmCpus,
    };

    public static ClusterSettings ToClusterSettings(ClusterSection cluster) => new()
    {
        HeartbeatIntervalMs = ToMilliseconds(cluster.HeartbeatInterval),
        HeartbeatGraceMs = ToMilliseconds(cluster.HeartbeatGrace),
        DownOutIntervalMs = ToMilliseconds(cluster.DownOutInterval),
    };

    /// <summary>The monitor set (names and store kind; the active monitor is the monitors' business).</summary>
    public static MonitorSet ToMonitorSet(ClusterSection cluster)
    {
        var set = new MonitorSet { Store = cluster.Etcd is null ? "embedded" : "etcd" };
        set.Names.AddRange(cluster.Monitors);
        return set;
    }

    public static PoolInfo ToPoolInfo(PoolConfig pool) => new()
    {
        Name = pool.Name,
        Replicas = (uint)pool.Replicas,
        MinReplicas = (uint)pool.MinReplicas,
        PgCount = (uint)pool.PgCount,
        FailureDomain = FailureDomainText(pool.FailureDomain),
    };

    /// <summary>A volume for VolumeCreate; <paramref name="poolId"/> is the id of its pool in the map.</summary>
    public static VolumeInfo ToVolumeInfo(VolumeConfig volume, uint poolId) => new()
    {
        Name = volume.Name,
        PoolId = poolId,
        SizeBytes = (ulong)volume.Size.Bytes,
        ObjectSizeBytes = (uint)volume.ObjectSize.Bytes,
    };

    public static NetworkInfo ToNetworkInfo(NetworkConfig network)
    {
        var info = new NetworkInfo
        {
            Name = network.Name,
            Kind = network.Kind == NetworkKind.Vxlan ? "vxlan" : "vlan",
            Vlan = (uint)(network.Vlan ?? 0),
            Vni = (uint)(network.Vni ?? 0),
            Subnet = network.Subnet.ToString(),
            Gateway = network.Gateway?.ToString() ?? string.Empty,
            Mtu = (uint)network.Mtu,
            Uplink = network.Uplink ?? string.Empty,
        };
        info.Acl.AddRange(network.Acl.Select(ToAclRule));
        return info;
    }

    public static AclRule ToAclRule(AclRuleConfig rule) => new()
    {
        Action = rule.Action == AclAction.Allow ? "allow" : "deny",
        Direction = rule.Direction switch
        {
            AclDirection.In => "in",
            AclDirection.Out => "out",
            _ => string.Empty,
        },
        Protocol = rule.Protocol switch
        {
            AclProtocol.Tcp => "tcp",
            AclProtocol.Udp => "udp",
            AclProtocol.Icmp => "icmp",
            _ => "any",
        },
        Cidr = rule.Cidr?.ToString() ?? string.Empty,
        PortMin = (uint)(rule.Port?.Min ?? 0),
        PortMax = (uint)(rule.Port?.Max ?? 0),
        Priority = rule.Priority,
    };

    /// <summary>
    /// The VM spec. Kernel-booted VMs carry their kernel, initrd and cmdline as written; image VMs get the
    /// image's files and a command line for the guest's /init (see <see cref="VmBootOptions"/>); VMs with
    /// neither boot from their first disk. <paramref name="config"/> supplies the networks' gateways.
    /// </summary>
    public static VmSpec ToVmSpec(VmConfig vm, ClusterConfig? config = null, VmBootOptions? boot = null)
    {
        boot ??= VmBootOptions.Default;
        var spec = new VmSpec
        {
            Name = vm.Name,
            Vcpus = (uint)vm.Vcpus,
            MemoryBytes = (ulong)vm.Memory.Bytes,
            Ha = vm.Ha,
            Node = vm.Node ?? string.Empty,
            Accel = vm.Accel switch
            {
                VmAccel.Kvm => "kvm",
                VmAccel.Tcg => "tcg",
                _ => "auto",
            },
            Restart = vm.Restart == VmRestartPolicy.OnCrash ? "on-crash" : "no",
            StopTimeoutMs = ToMilliseconds(vm.StopTimeout),
            BootFromDisk = vm.BootFromDisk,
        };
        spec.Disks.AddRange(vm.Disks.Select(disk => new VmDisk
        {
            Volume = disk.Volume,
            Transport = disk.Transport == DiskTransport.Nbd ? "nbd" : "vhost-user",
            ReadOnly = disk.ReadOnly,
            Cache = disk.Cache.ToMapText(),
        }));
        spec.Nics.AddRange(vm.Nics.Select(nic => new VmNic
        {
            Network = nic.Network,
            Mac = nic.Mac.Text,
            Ip = nic.Ip?.ToString() ?? string.Empty,
            Port = nic.Port ?? string.Empty,
        }));

        if (vm.Image is { } image)
        {
            var directory = boot.ImageDirectory.TrimEnd('/') + "/" + image;
            spec.Kernel = directory + "/" + boot.KernelFileName;
            spec.Initrd = directory + "/" + boot.InitrdFileName;
            spec.Cmdline = ImageCmdline(vm, config, boot);
        }
        else
        {
            spec.Kernel = vm.Kernel ?? string.Empty;
            spec.Initrd = vm.Initrd ?? string.Empty;
            spec.Cmdline = vm.Cmdline ?? string.Empty;
        }

        return spec;
    }

    private static string ImageCmdline(VmConfig vm, ClusterConfig? config, VmBootOptions boot)
    {
        var words = new List<string>();
        if (boot.BaseCmdline.Length > 0)
        {
            words.Add(boot.BaseCmdline);
        }

        words.Add("fabric.hostname=" + vm.Name);
        var addresses = vm.Nics.Where(nic => nic.Ip is not null).Select(nic => nic.Ip!.Value.ToString()).ToList();
        if (addresses.Count > 0)
        {
            words.Add("fabric.ip=" + string.Join(',', addresses));
        }

        var gateway = vm.Nics
            .Select(nic => config?.FindNetwork(nic.Network)?.Gateway)
            .FirstOrDefault(address => address is not null);
        if (gateway is not null)
        {
            words.Add("fabric.gw=" + gateway);
        }

        if (vm.Workload is { Length: > 0 } workload)
        {
            // Base64 keeps spaces and quotes of the script out of the kernel's word splitting.
            words.Add("fabric.workload64=" + Convert.ToBase64String(Encoding.UTF8.GetBytes(workload)));
        }

        if (vm.Cmdline is { Length: > 0 } extra)
        {
            words.Add(extra);
        }

        return string.Join(' ', words);
    }

    public static string FailureDomainText(PoolFailureDomain domain) => domain == PoolFailureDomain.Rack ? "rack" : "host";

    private static uint ToMilliseconds(TimeSpan value) =>
        (uint)Math.Clamp((long)value.TotalMilliseconds, 0, uint.MaxValue);

    internal static string FormatBytes(ulong bytes) =>
        bytes <= long.MaxValue ? new Core.Units.ByteSize((long)bytes).ToString() : bytes.ToString(CultureInfo.InvariantCulture);
}
