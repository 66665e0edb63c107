using System.Text;
using Fabric.Config.Plan;
using Fabric.Config.Tests.Config;
using Fabric.Core.Io;

namespace Fabric.Config.Tests.Plan;

public sealed class ConfigMappingTests
{
    private static readonly Model.ClusterConfig Config = SampleConfig.Load().GetConfigOrThrow();

    [Fact]
    public void NodeInfoCarriesTheJoinFields()
    {
        var info = ConfigMapping.ToNodeInfo(Config.FindNode("n1")!);
        Assert.Equal(("n1", "127.0.0.1:7000", "127.0.0.1", "127.0.0.1:6800", "rack1/n1"), (info.Name, info.GrpcAddress, info.DataAddress, info.StorageAddress, info.FailureDomain));
        Assert.Equal((8UL << 30, 2UL << 30, 2u), (info.CapacityBytes, info.MemoryBytes, info.Cpus));
        Assert.Equal((0u, 0.0, 0UL), (info.Id, info.Weight, info.Incarnation));
    }

    [Fact]
    public void SettingsAndMonitorsComeFromTheClusterTable()
    {
        var settings = ConfigMapping.ToClusterSettings(Config.Cluster);
        Assert.Equal((500u, 3000u, 60000u), (settings.HeartbeatIntervalMs, settings.HeartbeatGraceMs, settings.DownOutIntervalMs));
        var monitors = ConfigMapping.ToMonitorSet(Config.Cluster);
        Assert.Equal(["n1"], monitors.Names);
        Assert.Equal("embedded", monitors.Store);
    }

    [Fact]
    public void PoolsVolumesAndNetworksMapFieldForField()
    {
        var pool = ConfigMapping.ToPoolInfo(Config.Pools[0]);
        Assert.Equal(("rbd", 3u, 2u, 64u, "host"), (pool.Name, pool.Replicas, pool.MinReplicas, pool.PgCount, pool.FailureDomain));
        var volume = ConfigMapping.ToVolumeInfo(Config.FindVolume("shared")!, 7);
        Assert.Equal(("shared", 7u, 1UL << 30, 4u << 20), (volume.Name, volume.PoolId, volume.SizeBytes, volume.ObjectSizeBytes));

        var lan = ConfigMapping.ToNetworkInfo(Config.FindNetwork("lan")!);
        Assert.Equal(("vlan", 100u, 0u, "10.20.0.0/24", "10.20.0.1", 1500u, ""), (lan.Kind, lan.Vlan, lan.Vni, lan.Subnet, lan.Gateway, lan.Mtu, lan.Uplink));
        var overlay = ConfigMapping.ToNetworkInfo(Config.FindNetwork("overlay")!);
        Assert.Equal(("vxlan", 5001u, "", 1450u), (overlay.Kind, overlay.Vni, overlay.Gateway, overlay.Mtu));
        var allow = overlay.Acl[0];
        Assert.Equal(("allow", "", "icmp", "", 0u, 0u, 100), (allow.Action, allow.Direction, allow.Protocol, allow.Cidr, allow.PortMin, allow.PortMax, allow.Priority));
        var deny = overlay.Acl[1];
        Assert.Equal(("deny", "in", "tcp", "10.0.0.0/8", 8000u, 8080u, 90), (deny.Action, deny.Direction, deny.Protocol, deny.Cidr, deny.PortMin, deny.PortMax, deny.Priority));
    }

    [Fact]
    public void AnImageVmBootsTheImageWithTheGuestInitCommandLine()
    {
        var spec = ConfigMapping.ToVmSpec(Config.FindVm("vm1")!, Config);
        Assert.Equal(("vm1", 1u, 256UL << 20, "n1", true, "auto", "no", 30_000u, false), (spec.Name, spec.Vcpus, spec.MemoryBytes, spec.Node, spec.Ha, spec.Accel, spec.Restart, spec.StopTimeoutMs, spec.BootFromDisk));
        Assert.Equal(("images/tiny/vmlinuz", "images/tiny/initrd.img"), (spec.Kernel, spec.Initrd));
        var words = spec.Cmdline.Split(' ');
        Assert.Equal("console=ttyS0", words[0]);
        Assert.Contains("fabric.hostname=vm1", words);
        Assert.Contains("fabric.ip=10.10.0.11/24", words);
        Assert.DoesNotContain(words, word => word.StartsWith("fabric.gw=", StringComparison.Ordinal));
        var workload = words.Single(word => word.StartsWith("fabric.workload64=", StringComparison.Ordinal));
        Assert.Equal("ping 10.10.0.12", Encoding.UTF8.GetString(Convert.FromBase64String(workload["fabric.workload64=".Length..])));
        var disk = Assert.Single(spec.Disks);
        Assert.Equal(("vm1-root", "vhost-user", false), (disk.Volume, disk.Transport, disk.ReadOnly));
        var nic = Assert.Single(spec.Nics);
        Assert.Equal(("overlay", "52:54:00:0a:00:0b", "10.10.0.11/24", ""), (nic.Network, nic.Mac, nic.Ip, nic.Port));

        var custom = ConfigMapping.ToVmSpec(Config.FindVm("vm1")!, Config, new VmBootOptions { ImageDirectory = "/var/lib/fabric/images/", BaseCmdline = "console=ttyS0 quiet" });
        Assert.Equal("/var/lib/fabric/images/tiny/vmlinuz", custom.Kernel);
        Assert.StartsWith("console=ttyS0 quiet fabric.hostname=vm1", custom.Cmdline, StringComparison.Ordinal);
    }

    [Fact]
    public void TheGatewayOfTheFirstNicNetworkWithOneIsPassedToTheGuest()
    {
        var vm = Config.FindVm("vm1")! with { Nics = [.. Config.FindVm("vm1")!.Nics, Config.FindVm("vm2")!.Nics[1]] };
        var words = ConfigMapping.ToVmSpec(vm, Config).Cmdline.Split(' ');
        Assert.Contains("fabric.ip=10.10.0.11/24,10.20.0.12/24", words);
        Assert.Contains("fabric.gw=10.20.0.1", words);
    }

    [Theory]
    [InlineData(DiskCacheMode.Default, "")]
    [InlineData(DiskCacheMode.WriteBack, "writeback")]
    [InlineData(DiskCacheMode.WriteThrough, "writethrough")]
    [InlineData(DiskCacheMode.None, "none")]
    public void ADisksCacheModeReachesTheMap(DiskCacheMode mode, string text)
    {
        var vm2 = Config.FindVm("vm2")!;
        var vm = vm2 with { Disks = [vm2.Disks[0] with { Cache = mode }, vm2.Disks[1]] };
        var spec = ConfigMapping.ToVmSpec(vm, Config);
        Assert.Equal(("vm2-root", text), (spec.Disks[0].Volume, spec.Disks[0].Cache));
        Assert.Equal("", spec.Disks[1].Cache); // left out: the node decides, as before the key existed
        Assert.True(DiskCacheModes.TryParse(spec.Disks[0].Cache, out var back));
        Assert.Equal(mode, back);
    }

    [Fact]
    public void AKernelVmKeepsItsBootFilesAsWritten()
    {
        var spec = ConfigMapping.ToVmSpec(Config.FindVm("vm2")!, Config);
        Assert.Equal(("/boot/vmlinuz", "/boot/initrd.img", "console=ttyS0"), (spec.Kernel, spec.Initrd, spec.Cmdline));
        Assert.Equal(("tcg", "on-crash", 10_000u, 1u), (spec.Accel, spec.Restart, spec.StopTimeoutMs, spec.Vcpus));
        Assert.Equal(("shared", "nbd", true), (spec.Disks[1].Volume, spec.Disks[1].Transport, spec.Disks[1].ReadOnly));
        Assert.Equal("vm2-eth0", spec.Nics[0].Port);

        var diskBoot = ConfigMapping.ToVmSpec(Config.FindVm("vm2")! with { Kernel = null, Initrd = null, Cmdline = null });
        Assert.True(diskBoot.BootFromDisk);
        Assert.Equal(string.Empty, diskBoot.Kernel);
    }
}
