using System.Net;
using Fabric.Config.Loading;
using Fabric.Config.Model;
using Fabric.Core.Io;
using Fabric.Core.Units;

namespace Fabric.Config.Tests.Config;

public sealed class ClusterConfigLoaderTests
{
    private static string ExamplePath
    {
        get
        {
            Assert.NotNull(TestEnvironment.RepoRoot);
            return Path.Combine(TestEnvironment.RepoRoot, "cluster.example.toml");
        }
    }

    [Fact]
    public void TheExampleClusterLoadsWithEveryValue()
    {
        var result = ClusterConfigLoader.Load(ExamplePath);
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        Assert.Empty(result.Problems);
        var config = result.Config!;

        Assert.Equal("example", config.Cluster.Name);
        Assert.Equal(["n1"], config.Cluster.Monitors);
        Assert.Equal(TimeSpan.FromMilliseconds(500), config.Cluster.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(3), config.Cluster.HeartbeatGrace);
        Assert.Equal(TimeSpan.FromSeconds(60), config.Cluster.DownOutInterval);
        Assert.Null(config.Cluster.Etcd);

        Assert.Equal(["n1", "n2", "n3"], config.Nodes.Select(node => node.Name));
        var n2 = config.Nodes[1];
        Assert.Equal(new HostPort("127.0.0.2", 7000), n2.Grpc);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), n2.Data);
        Assert.Equal(6800, n2.StoragePort);
        Assert.Equal(new HostPort("127.0.0.2", 9100), n2.Metrics);
        Assert.Equal("rack1/n2", n2.FailureDomain);
        Assert.Equal("rack1", n2.RackDomain);
        Assert.Equal("n2", n2.HostDomain);
        Assert.Equal(ByteSize.FromGiB(8), n2.Capacity);
        Assert.Equal(ByteSize.FromGiB(2), n2.VmMemory);
        Assert.Equal(2, n2.VmCpus);
        Assert.Null(n2.StoragePath);
        Assert.Null(n2.Uplink);
        Assert.Equal(4789, n2.VxlanPort);

        var pool = Assert.Single(config.Pools);
        Assert.Equal(("rbd", 3, 2, 64, PoolFailureDomain.Host), (pool.Name, pool.Replicas, pool.MinReplicas, pool.PgCount, pool.FailureDomain));

        Assert.Equal(["vm1-root", "vm2-root"], config.Volumes.Select(volume => volume.Name));
        Assert.All(config.Volumes, volume => Assert.Equal(ByteSize.FromMiB(256), volume.Size));
        Assert.All(config.Volumes, volume => Assert.Equal(ByteSize.FromMiB(4), volume.ObjectSize));

        var lan = config.FindNetwork("lan")!;
        Assert.Equal((NetworkKind.Vlan, (int?)100, (int?)null, 1500), (lan.Kind, lan.Vlan, lan.Vni, lan.Mtu));
        Assert.Equal(IPNetwork.Parse("10.20.0.0/24"), lan.Subnet);
        Assert.Equal(IPAddress.Parse("10.20.0.1"), lan.Gateway);
        var overlay = config.FindNetwork("overlay")!;
        Assert.Equal((NetworkKind.Vxlan, (int?)5001, 1450), (overlay.Kind, overlay.Vni, overlay.Mtu));
        Assert.Equal(2, overlay.Acl.Count);
        Assert.Equal((AclAction.Allow, AclDirection.Both, AclProtocol.Icmp, 100, (PortRange?)null), (overlay.Acl[0].Action, overlay.Acl[0].Direction, overlay.Acl[0].Protocol, overlay.Acl[0].Priority, overlay.Acl[0].Port));
        Assert.Equal((AclAction.Deny, AclDirection.In, AclProtocol.Tcp, 90, (PortRange?)new PortRange(23, 23)), (overlay.Acl[1].Action, overlay.Acl[1].Direction, overlay.Acl[1].Protocol, overlay.Acl[1].Priority, overlay.Acl[1].Port));

        var vm1 = config.FindVm("vm1")!;
        Assert.Equal(("n1", 1, ByteSize.FromMiB(256), "tiny", "ping 10.10.0.12", true), (vm1.Node, vm1.Vcpus, vm1.Memory, vm1.Image, vm1.Workload, vm1.Ha));
        Assert.Equal((VmRestartPolicy.No, VmAccel.Auto, TimeSpan.FromSeconds(30)), (vm1.Restart, vm1.Accel, vm1.StopTimeout));
        var disk = Assert.Single(vm1.Disks);
        Assert.Equal(("vm1-root", DiskTransport.VhostUser, false), (disk.Volume, disk.Transport, disk.ReadOnly));
        var nic = Assert.Single(vm1.Nics);
        Assert.Equal(("overlay", "52:54:00:0a:00:0b", "10.10.0.11/24"), (nic.Network, nic.Mac.Text, nic.Ip.ToString()));
        Assert.False(config.FindVm("vm2")!.Ha);
    }

    [Fact]
    public void EveryEntryKnowsWhereItWasWritten()
    {
        var text = File.ReadAllText(ExamplePath);
        var config = ClusterConfigLoader.Load(ExamplePath).Config!;
        var n2 = config.Nodes[1];
        Assert.Equal("node[1]", n2.Source.Path);
        Assert.Equal(SampleConfig.LineOf(text, "grpc = \"127.0.0.2:7000\""), n2.Source.At("grpc").Line);
        Assert.Equal(8, n2.Source.At("grpc").Column);
        Assert.Equal("node[1].grpc", n2.Source.PathOf("grpc"));
        Assert.Equal(SampleConfig.LineOf(text, "name = \"n2\"") - 1, n2.Source.Location.Line);
        var acl = config.FindNetwork("overlay")!.Acl[1];
        Assert.Equal("network[1].acl[1]", acl.Source.Path);
        Assert.Equal(SampleConfig.LineOf(text, "port = \"23\""), acl.Source.At("port").Line);
        var nic = config.FindVm("vm2")!.Nics[0];
        Assert.Equal("vm[1].nic[0]", nic.Source.Path);
        Assert.Equal(SampleConfig.LineOf(text, "mac = \"52:54:00:0a:00:0c\""), nic.Source.At("mac").Line);
        Assert.Equal(ExamplePath, nic.Source.At("mac").File);
    }

    [Fact]
    public void TheSampleLoadsWithItsOptionalForms()
    {
        var result = SampleConfig.Load();
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        var config = result.Config!;
        Assert.Equal("eth1", config.FindNode("n2")!.Uplink);
        Assert.Equal("/srv/fabric/n3", config.FindNode("n3")!.StoragePath);
        Assert.Null(config.FindNode("n3")!.Metrics);
        var vm2 = config.FindVm("vm2")!;
        Assert.True(vm2.BootFromDisk is false && vm2.Kernel == "/boot/vmlinuz" && vm2.Initrd == "/boot/initrd.img");
        Assert.Equal((VmRestartPolicy.OnCrash, VmAccel.Tcg, TimeSpan.FromSeconds(10)), (vm2.Restart, vm2.Accel, vm2.StopTimeout));
        Assert.Equal(("shared", DiskTransport.Nbd, true), (vm2.Disks[1].Volume, vm2.Disks[1].Transport, vm2.Disks[1].ReadOnly));
        Assert.Equal("vm2-eth0", vm2.Nics[0].Port);
        Assert.Equal(new PortRange(8000, 8080), config.FindNetwork("overlay")!.Acl[1].Port);
        Assert.Equal(IPNetwork.Parse("10.0.0.0/8"), config.FindNetwork("overlay")!.Acl[1].Cidr);
    }

    [Fact]
    public void DefaultsApplyWhereKeysAreLeftOut()
    {
        const string text = """
            [cluster]
            name = "tiny"

            [[node]]
            name = "a"
            grpc = "10.0.0.1:7000"
            data = "10.0.0.1"
            capacity = 1073741824

            [[pool]]
            name = "p"
            replicas = 1

            [[network]]
            name = "o"
            kind = "vxlan"
            vni = 1
            subnet = "10.1.0.0/16"

            [[volume]]
            name = "v"
            pool = "p"
            size = "1G"
            """;
        var result = ClusterConfigLoader.Parse(text, "tiny.toml");
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        var config = result.Config!;
        Assert.Equal(["a"], config.Cluster.Monitors);
        Assert.Equal(ClusterSection.DefaultHeartbeatGrace, config.Cluster.HeartbeatGrace);
        var node = config.Nodes[0];
        Assert.Equal(("a", 6800, 4789, ByteSize.Zero, 0, ByteSize.FromGiB(1)), (node.FailureDomain, node.StoragePort, node.VxlanPort, node.VmMemory, node.VmCpus, node.Capacity));
        Assert.Null(node.Metrics);
        var pool = config.Pools[0];
        Assert.Equal((1, 1, 64, PoolFailureDomain.Host), (pool.Replicas, pool.MinReplicas, pool.PgCount, pool.FailureDomain));
        Assert.Equal(1450, config.Networks[0].Mtu);
        Assert.Null(config.Networks[0].Gateway);
        Assert.Equal(ByteSize.FromMiB(4), config.Volumes[0].ObjectSize);
    }

    [Theory]
    [InlineData("default", DiskCacheMode.Default)]
    [InlineData("writeback", DiskCacheMode.WriteBack)]
    [InlineData("writethrough", DiskCacheMode.WriteThrough)]
    [InlineData("none", DiskCacheMode.None)]
    public void EachDiskCacheModeLoads(string text, DiskCacheMode expected)
    {
        var result = SampleConfig.Load(SampleConfig.Edit("read_only = true", $"read_only = true\n  cache = \"{text}\""));
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        var disks = result.Config!.FindVm("vm2")!.Disks;
        Assert.Equal(("shared", expected), (disks[1].Volume, disks[1].Cache));
        Assert.Equal(DiskCacheMode.Default, disks[0].Cache);
    }

    [Fact]
    public void ADiskWithoutACacheKeyLetsTheNodeDecide()
    {
        var config = SampleConfig.Load().GetConfigOrThrow();
        Assert.All(config.Vms.SelectMany(vm => vm.Disks), disk => Assert.Equal(DiskCacheMode.Default, disk.Cache));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 2)]
    [InlineData(5, 3)]
    public void MinReplicasDefaultsAsInCeph(int replicas, int expected)
    {
        Assert.Equal(expected, PoolConfig.DefaultMinReplicas(replicas));
    }

    [Fact]
    public void EtcdSectionEnablesSeveralMonitors()
    {
        var text = SampleConfig.Edit("monitors = [\"n1\"]", "monitors = [\"n1\", \"n2\", \"n3\"]");
        text = SampleConfig.Edit("down_out_interval = \"60s\"\n", "down_out_interval = \"60s\"\n\n[cluster.etcd]\nendpoints = [\"http://127.0.0.1:2379\", \"https://etcd.example:2379\"]\n", text);
        var result = SampleConfig.Load(text);
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        var etcd = result.Config!.Cluster.Etcd!;
        Assert.Equal(2, etcd.Endpoints.Count);
        Assert.Equal("/fabric/test", etcd.Prefix);
    }

    [Fact]
    public void SyntaxErrorsAreOneErrorWithTheirPosition()
    {
        var result = SampleConfig.Load(SampleConfig.Edit("vm_cpus = 1", "vm_cpus = = 1"));
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Problems);
        Assert.Equal(SampleConfig.LineOf(SampleConfig.Text, "vm_cpus = 1"), error.Location.Line);
        Assert.Contains("TOML syntax", error.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{SampleConfig.FileName}:{error.Location.Line}:11: error:", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingFileIsAnErrorNotAnException()
    {
        var result = ClusterConfigLoader.Load("/nonexistent/fabric.toml");
        Assert.False(result.Succeeded);
        Assert.Contains("cannot read the config file", Assert.Single(result.Problems).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => result.GetConfigOrThrow());
    }

    [Fact]
    public void ErrorsComeInFileOrder()
    {
        var text = SampleConfig.Edit("vm_cpus = 1", "vm_cpus = \"1\"");
        text = SampleConfig.Edit("name = \"n1\"", "name = \"n 1\"", text);
        text = SampleConfig.Edit("mtu = 1500", "mtu = 100", text);
        var lines = SampleConfig.Load(text).Problems.Select(problem => problem.Location.Line).ToList();
        Assert.True(lines.Count >= 3);
        Assert.Equal(lines.Order(), lines);
    }
}
