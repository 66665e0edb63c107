using Fabric.Config.Model;
using Fabric.Config.Validation;
using static Fabric.Config.Tests.Config.SampleConfig;

namespace Fabric.Config.Tests.Config;

/// <summary>
/// Each class of config error: the loader refuses the config and the message names file:line, the key
/// path, what was expected and what was found.
/// </summary>
public sealed class ConfigValidationTests
{
    /// <summary>
    /// Edits the sample, loads it and checks the error is on the edited line: the line of <paramref name="to"/>
    /// holding <paramref name="at"/> (its last such line; default: its first line).
    /// </summary>
    private static ConfigError ExpectError(string from, string to, string keyPath, string message, ConfigSeverity severity = ConfigSeverity.Error, string? at = null)
    {
        var text = Edit(from, to);
        var editLine = Text[..Text.IndexOf(from, StringComparison.Ordinal)].Count(c => c == '\n') + 1;
        var toLines = to.Split('\n');
        var offset = at is null ? 0 : Array.FindLastIndex(toLines, line => line.Contains(at, StringComparison.Ordinal));
        Assert.True(offset >= 0, $"'{at}' is not in the edit");
        return AssertError(Load(text), editLine + offset, keyPath, message, severity);
    }

    // ---- keys ----

    [Fact]
    public void UnknownKeysSuggestTheClosestKnownKey()
    {
        var error = ExpectError("vm_memory = \"1GiB\"", "vm_memroy = \"1GiB\"", "node[2].vm_memroy", "did you mean 'vm_memory'?");
        Assert.Equal(1, error.Location.Column);
        ExpectError("stop_timeout = \"10s\"", "stop-timeout = \"10s\"", "vm[1].stop-timeout", "did you mean 'stop_timeout'?");
        ExpectError("priority = 100", "prio = 100", "network[1].acl[0].prio", "unknown key 'prio'");
        ExpectError("[[pool]]", "[[pools]]", "pools", "did you mean 'pool'?");
    }

    [Fact]
    public void UnknownKeysWithoutACloseMatchListTheKnownKeys()
    {
        var error = ExpectError("uplink = \"eth1\"", "colour = \"blue\"", "node[1].colour", "known keys here:");
        Assert.Contains("vm_memory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingRequiredKeysAreReportedAtTheirTable()
    {
        var text = Edit("grpc = \"127.0.0.2:7000\"\n", string.Empty);
        AssertError(Load(text), LineOf(text, "[[node]]", after: "vm_cpus = 2"), "node[1].grpc", "missing required key 'grpc' (expected \"host:port\"");
        text = Edit("name = \"test\"\n", string.Empty);
        AssertError(Load(text), 1, "cluster.name", "missing required key 'name'");
        text = Edit("memory = \"256MiB\"\nkernel", "kernel");
        AssertError(Load(text), LineOf(text, "name = \"vm2\"") - 1, "vm[1].memory", "missing required key 'memory'");
        text = Edit("[cluster]\nname = \"test\"\nmonitors = [\"n1\"]\nheartbeat_interval = \"500ms\"\nheartbeat_grace = \"3s\"\ndown_out_interval = \"60s\"\n", string.Empty);
        AssertError(Load(text), 1, "cluster", "missing the [cluster] table");
    }

    [Fact]
    public void WrongTypesSayWhatWasExpectedAndFound()
    {
        ExpectError("vm_cpus = 1", "vm_cpus = \"1\"", "node[2].vm_cpus", "found the string \"1\" (remove the quotes)");
        ExpectError("storage_port = 6800", "storage_port = 6800.5", "node[0].storage_port", "expected an integer from 1 to 65535, found a float (6800.5)");
        ExpectError("ha = true", "ha = \"yes\"", "vm[0].ha", "expected true or false, found the string \"yes\"");
        ExpectError("monitors = [\"n1\"]", "monitors = \"n1\"", "cluster.monitors", "write [\"n1\"]");
        ExpectError("disks = [\"vm1-root\"]", "disks = [\"vm1-root\", 7]", "vm[0].disks[1]", "expected a string, found an integer (7)");
        ExpectError("capacity = \"8GiB\"\nvm_memory = \"1GiB\"", "capacity = true\nvm_memory = \"1GiB\"", "node[2].capacity", "found a boolean (true)");
    }

    [Fact]
    public void ArraysOfTablesMustBeArraysOfTables()
    {
        var text = Edit("[[pool]]", "[pool]");
        AssertError(Load(text), LineOf(text, "[pool]"), "pool", "expected [[pool]] (an array of tables");
        text = Edit("  [[vm.nic]]\n  network = \"overlay\"\n  mac = \"52:54:00:0a:00:0b\"", "nic = 5\n  mac = \"52:54:00:0a:00:0b\"");
        AssertError(Load(text), LineOf(text, "nic = 5"), "vm[0].nic", "expected [[vm.nic]] sections");
    }

    [Fact]
    public void ValuesOutOfRangeGiveTheRange()
    {
        ExpectError("storage_port = 6800", "storage_port = 70000", "node[0].storage_port", "expected an integer from 1 to 65535, found 70000");
        ExpectError("vlan = 100", "vlan = 4095", "network[0].vlan", "from 1 to 4094, found 4095");
        ExpectError("vni = 5001", "vni = 16777216", "network[1].vni", "from 1 to 16777215");
        ExpectError("mtu = 1500", "mtu = 100", "network[0].mtu", "from 576 to 9000");
        ExpectError("vcpus = 1", "vcpus = 0", "vm[0].vcpus", "from 1 to 64, found 0");
        ExpectError("replicas = 3", "replicas = 17", "pool[0].replicas", "from 1 to 16");
    }

    [Fact]
    public void InvalidNamesAreRejected()
    {
        ExpectError("name = \"n1\"", "name = \"n 1\"", "node[0].name", "\"n 1\" is not a valid name");
        ExpectError("name = \"vm2\"", "name = \"-vm2\"", "vm[1].name", "is not a valid name");
        ExpectError("failure_domain = \"rack1/n1\"", "failure_domain = \"rack1//n1\"", "node[0].failure_domain", "expected a failure-domain path");
        ExpectError("uplink = \"eth1\"", "uplink = \"a-very-long-interface0\"", "node[1].uplink", "1-15 characters");
    }

    // ---- duplicates ----

    [Fact]
    public void DuplicateNamesPointAtTheFirstUse()
    {
        var error = ExpectError("name = \"n2\"", "name = \"n1\"", "node[1].name", "duplicate node name 'n1': already used by node[0]");
        Assert.Contains($"{FileName}:{LineOf(Text, "name = \"n1\"")}:", error.Message, StringComparison.Ordinal);
        ExpectError("name = \"vm2-root\"", "name = \"vm1-root\"", "volume[1].name", "duplicate volume name");
        ExpectError("name = \"overlay\"", "name = \"lan\"", "network[1].name", "duplicate network name");
        ExpectError("name = \"vm2\"", "name = \"vm1\"", "vm[1].name", "duplicate vm name");
        var text = Edit("[[volume]]\nname = \"vm1-root\"", "[[pool]]\nname = \"rbd\"\n\n[[volume]]\nname = \"vm1-root\"");
        AssertError(Load(text), LineOf(text, "name = \"rbd\"", after: "failure_domain = \"host\""), "pool[1].name", "duplicate pool name 'rbd'");
    }

    [Fact]
    public void DuplicateEndpointsAreRejected()
    {
        ExpectError("grpc = \"127.0.0.2:7000\"", "grpc = \"127.0.0.1:7000\"", "node[1].grpc", "TCP endpoint 127.0.0.1:7000 is already used by node 'n1'");
        ExpectError("metrics = \"127.0.0.1:9100\"", "metrics = \"127.0.0.1:7000\"", "node[0].metrics", "already used by this node's grpc");
        var text = Edit("data = \"127.0.0.2\"", "data = \"127.0.0.1\"");
        var storage = AssertError(Load(text), LineOf(text, "data = \"127.0.0.1\"", after: "name = \"n2\""), "node[1].data", "TCP endpoint 127.0.0.1:6800 is already used by node 'n1'");
        Assert.Contains("node[0].storage_port", storage.Message, StringComparison.Ordinal);
        AssertError(Load(text), LineOf(text, "data = \"127.0.0.1\"", after: "name = \"n2\""), "node[1].data", "VXLAN endpoint 127.0.0.1:4789 (UDP) is already used by node 'n1'");
        ExpectError("data = \"127.0.0.3\"", "data = \"0.0.0.0\"", "node[2].data", "is already used by node 'n1'");
    }

    [Fact]
    public void DuplicateSegmentIdsWouldMixNetworks()
    {
        var text = Edit("kind = \"vxlan\"\nvni = 5001", "kind = \"vlan\"\nvlan = 100");
        AssertError(Load(text), LineOf(text, "vlan = 100", after: "name = \"overlay\""), "network[1].vlan", "VLAN id 100 is already used by network 'lan'");
        text = Edit("kind = \"vlan\"\nvlan = 100", "kind = \"vxlan\"\nvni = 5001");
        AssertError(Load(text), LineOf(text, "vni = 5001", after: "name = \"overlay\""), "network[1].vni", "VNI 5001 is already used by network 'lan'");
    }

    [Fact]
    public void DuplicateMacsAndIpsAreRejected()
    {
        ExpectError("mac = \"52:54:00:0a:00:0c\"", "mac = \"52:54:00:0A:00:0B\"", "vm[1].nic[0].mac", "MAC address 52:54:00:0a:00:0b is already used by vm 'vm1'");
        ExpectError("ip = \"10.10.0.12/24\"", "ip = \"10.10.0.11/24\"", "vm[1].nic[0].ip", "IP 10.10.0.11 on network 'overlay' is already used by vm 'vm1'");
        ExpectError("port = \"vm2-eth0\"", "port = \"vm2-eth0\"\n\n  [[vm.nic]]\n  network = \"lan\"\n  mac = \"52:54:00:14:00:0d\"\n  port = \"vm2-eth0\"", "vm[1].nic[1].port", "switch port name 'vm2-eth0' is already used", at: "port");
    }

    // ---- addresses ----

    [Fact]
    public void BadAddressesSayWhatIsExpected()
    {
        ExpectError("grpc = \"127.0.0.2:7000\"", "grpc = \"127.0.0.2\"", "node[1].grpc", "expected \"host:port\" such as \"127.0.0.1:7000\" or \"[::1]:7000\", found \"127.0.0.2\"");
        ExpectError("grpc = \"127.0.0.2:7000\"", "grpc = \"127.0.0.300:7000\"", "node[1].grpc", "neither an IPv4 address nor a host name");
        ExpectError("grpc = \"127.0.0.2:7000\"", "grpc = \"::1:7000\"", "node[1].grpc", "write an IPv6 host in brackets");
        ExpectError("metrics = \"127.0.0.1:9100\"", "metrics = \"127.0.0.1:0\"", "node[0].metrics", "port '0' is not a number from 1 to 65535");
        ExpectError("data = \"127.0.0.3\"", "data = \"127.0.0.3:6800\"", "node[2].data", "expected an IP address without a port");
        ExpectError("data = \"127.0.0.3\"", "data = \"localhost\"", "node[2].data", "expected an IP address such as \"127.0.0.1\", found \"localhost\"");
        ExpectError("subnet = \"10.20.0.0/24\"", "subnet = \"10.20.0.7/24\"", "network[0].subnet", "has host bits set; the network is \"10.20.0.0/24\"");
        ExpectError("subnet = \"10.20.0.0/24\"", "subnet = \"10.20.0.0\"", "network[0].subnet", "expected an IPv4 network in CIDR form");
        ExpectError("subnet = \"10.20.0.0/24\"", "subnet = \"10.20.0.0/31\"", "network[0].subnet", "too small");
        ExpectError("gateway = \"10.20.0.1\"", "gateway = \"10.30.0.1\"", "network[0].gateway", "gateway 10.30.0.1 is outside the subnet 10.20.0.0/24");
        ExpectError("gateway = \"10.20.0.1\"", "gateway = \"10.20.0.255\"", "network[0].gateway", "is the broadcast address");
        ExpectError("cidr = \"10.0.0.0/8\"", "cidr = \"10.0.0.1/8\"", "network[1].acl[1].cidr", "host bits set");
    }

    [Fact]
    public void EtcdEndpointsMustBeUrlsWithPorts()
    {
        var text = Edit("down_out_interval = \"60s\"\n", "down_out_interval = \"60s\"\n\n[cluster.etcd]\nendpoints = [\"127.0.0.1:2379\"]\nprefix = \"fabric\"\n");
        var result = Load(text);
        AssertError(result, LineOf(text, "endpoints ="), "cluster.etcd.endpoints[0]", "expected an etcd client URL with scheme and port");
        AssertError(result, LineOf(text, "prefix ="), "cluster.etcd.prefix", "starts with '/'");
    }

    // ---- sizes and durations ----

    [Fact]
    public void BadSizesSayWhatIsExpected()
    {
        ExpectError("capacity = \"8GiB\"\nvm_memory = \"1GiB\"", "capacity = \"8GB\"\nvm_memory = \"1GiB\"", "node[2].capacity", "'8GB': unit 'GB' is ambiguous (a power of ten or of two?); write 8GiB");
        ExpectError("capacity = \"8GiB\"\nvm_memory = \"1GiB\"", "capacity = \"lots\"\nvm_memory = \"1GiB\"", "node[2].capacity", "expected a size such as 512 (bytes), 4KiB, 256MiB");
        ExpectError("capacity = \"8GiB\"\nvm_memory = \"1GiB\"", "capacity = -5\nvm_memory = \"1GiB\"", "node[2].capacity", "found an integer (-5)");
        ExpectError("size = \"1GiB\"", "size = \"1000\"", "volume[2].size", "whole number of 4KiB blocks, found 1000 bytes; use 4KiB");
        ExpectError("size = \"1GiB\"", "size = 0", "volume[2].size", "more than 0");
        ExpectError("object_size = \"4MiB\"", "object_size = \"3MiB\"", "volume[0].object_size", "expected a power of two from 64KiB to 64MiB, found 3MiB");
        ExpectError("object_size = \"4MiB\"", "object_size = \"128MiB\"", "volume[0].object_size", "found 128MiB");
        var text = Edit("memory = \"256MiB\"\nkernel", "memory = \"8MiB\"\nkernel");
        AssertError(Load(text), LineOf(text, "memory = \"8MiB\""), "vm[1].memory", "too little memory");
    }

    [Fact]
    public void BlockCacheIsOffByDefaultAndAPowerOfTwoWhenSet()
    {
        var config = Load(Text).Config!;
        Assert.All(config.Nodes, node => Assert.Equal(Core.Units.ByteSize.Zero, node.BlockCache));
        var text = Edit("storage_path = \"/srv/fabric/n3\"", "storage_path = \"/srv/fabric/n3\"\nblock_cache = \"512MiB\"");
        Assert.Equal(Core.Units.ByteSize.FromMiB(512), Load(text).Config!.FindNode("n3")!.BlockCache);
        ExpectError("storage_path = \"/srv/fabric/n3\"", "storage_path = \"/srv/fabric/n3\"\nblock_cache = \"300MiB\"", "node[2].block_cache",
            "expected a power of two of at least 16MiB (the cache's memory), found 300MiB; use 512MiB", at: "block_cache");
        ExpectError("storage_path = \"/srv/fabric/n3\"", "storage_path = \"/srv/fabric/n3\"\nblock_cache = \"4MiB\"", "node[2].block_cache", "use 16MiB", at: "block_cache");
    }

    [Fact]
    public void WriteCacheIsOffByDefaultAndBetween1MiBAnd1GiBWhenSet()
    {
        var config = Load(Text).Config!;
        Assert.All(config.Nodes, node => Assert.Equal(Core.Units.ByteSize.Zero, node.WriteCache));
        var text = Edit("storage_path = \"/srv/fabric/n3\"", "storage_path = \"/srv/fabric/n3\"\nwrite_cache = \"32MiB\"");
        Assert.Equal(Core.Units.ByteSize.FromMiB(32), Load(text).Config!.FindNode("n3")!.WriteCache);
        ExpectError("storage_path = \"/srv/fabric/n3\"", "storage_path = \"/srv/fabric/n3\"\nwrite_cache = \"512KiB\"", "node[2].write_cache",
            "expected from 1MiB to 1GiB (the most acknowledged, unflushed data the node holds per volume), found 512KiB; use \"32MiB\", or leave the key out to write through", at: "write_cache");
        ExpectError("storage_path = \"/srv/fabric/n3\"", "storage_path = \"/srv/fabric/n3\"\nwrite_cache = \"2GiB\"", "node[2].write_cache", "found 2GiB", at: "write_cache");
    }

    [Fact]
    public void VmMemoryIsPreallocatedUnlessTheNodeSaysOtherwise()
    {
        Assert.All(Load(Text).Config!.Nodes, node => Assert.True(node.VmMemoryPrealloc));
        var text = Edit("storage_path = \"/srv/fabric/n3\"", "storage_path = \"/srv/fabric/n3\"\nvm_memory_prealloc = false");
        var config = Load(text).Config!;
        Assert.False(config.FindNode("n3")!.VmMemoryPrealloc);
        Assert.True(config.FindNode("n1")!.VmMemoryPrealloc);
        ExpectError("storage_path = \"/srv/fabric/n3\"", "storage_path = \"/srv/fabric/n3\"\nvm_memory_prealloc = \"no\"", "node[2].vm_memory_prealloc",
            "expected true or false", at: "vm_memory_prealloc");
    }

    [Fact]
    public void BadDurationsSayWhatIsExpected()
    {
        ExpectError("heartbeat_interval = \"500ms\"", "heartbeat_interval = 500", "cluster.heartbeat_interval", "found the bare number 500 (add a unit, e.g. \"500ms\"");
        ExpectError("heartbeat_interval = \"500ms\"", "heartbeat_interval = \"half a second\"", "cluster.heartbeat_interval", "expected a duration such as 500ms");
        ExpectError("heartbeat_grace = \"3s\"", "heartbeat_grace = \"400ms\"", "cluster.heartbeat_grace", "must be longer than heartbeat_interval (500ms)");
        ExpectError("down_out_interval = \"60s\"", "down_out_interval = \"2s\"", "cluster.down_out_interval", "must not be shorter than heartbeat_grace (3s)");
        ExpectError("stop_timeout = \"10s\"", "stop_timeout = \"0s\"", "vm[1].stop_timeout", "0s is out of range; expected 1s to 1h");
    }

    // ---- enumerations ----

    [Fact]
    public void ChoicesListTheAcceptedValues()
    {
        ExpectError("kind = \"vlan\"", "kind = \"VLAN\"", "network[0].kind", "expected one of \"vlan\", \"vxlan\", found \"VLAN\" (values are lower case: \"vlan\")");
        ExpectError("action = \"allow\"", "action = \"permit\"", "network[1].acl[0].action", "expected one of \"allow\", \"deny\"");
        ExpectError("restart = \"on-crash\"", "restart = \"always\"", "vm[1].restart", "one of \"no\", \"on-crash\"");
        ExpectError("accel = \"tcg\"", "accel = \"xen\"", "vm[1].accel", "one of \"auto\", \"kvm\", \"tcg\"");
        ExpectError("transport = \"nbd\"", "transport = \"iscsi\"", "vm[1].disk[1].transport", "one of \"vhost-user\", \"nbd\"");
        ExpectError("failure_domain = \"host\"", "failure_domain = \"row\"", "pool[0].failure_domain", "one of \"host\", \"rack\"");
    }

    [Fact]
    public void ADiskCacheModeOutsideTheFourIsAnErrorListingThem()
    {
        var error = ExpectError("read_only = true", "read_only = true\n  cache = \"unsafe\"", "vm[1].disk[1].cache",
            "expected one of \"default\", \"writeback\", \"writethrough\", \"none\", found \"unsafe\"", at: "cache");
        Assert.Equal(11, error.Location.Column);
        ExpectError("read_only = true", "read_only = true\n  cache = \"WriteBack\"", "vm[1].disk[1].cache",
            "found \"WriteBack\" (values are lower case: \"writeback\")", at: "cache");
        ExpectError("read_only = true", "read_only = true\n  cache = true", "vm[1].disk[1].cache", "one of \"default\", \"writeback\"", at: "cache");
    }

    // ---- rules within one entry ----

    [Fact]
    public void NetworkKindDecidesWhichIdItNeeds()
    {
        ExpectError("kind = \"vlan\"\nvlan = 100", "kind = \"vlan\"\nvni = 100", "network[0].vni", "'vni' is for kind = \"vxlan\"", at: "vni");
        var text = Edit("vni = 5001\n", string.Empty);
        AssertError(Load(text), LineOf(text, "name = \"overlay\"") - 1, "network[1].vni", "a vxlan network needs 'vni'");
    }

    [Fact]
    public void AclPortsNeedTcpOrUdpAndARealRange()
    {
        ExpectError("protocol = \"icmp\"", "protocol = \"icmp\"\n  port = 23", "network[1].acl[0].port", "a port applies only to protocol = \"tcp\" or \"udp\"", at: "port");
        ExpectError("port = \"8000-8080\"", "port = \"8080-8000\"", "network[1].acl[1].port", "backwards; write \"8000-8080\"");
        ExpectError("port = \"8000-8080\"", "port = \"http\"", "network[1].acl[1].port", "expected a port \"23\" or a range \"8000-8080\"");
    }

    [Fact]
    public void PoolRulesWithinThePool()
    {
        ExpectError("min_replicas = 2", "min_replicas = 4", "pool[0].min_replicas", "min_replicas (4) must not exceed replicas (3)");
        ExpectError("pg_count = 64", "pg_count = 100", "pool[0].pg_count", "expected a power of two (so that placement groups split stably), found 100; use 64 or 128");
    }

    [Fact]
    public void VmsNeedSomethingToBootAndOneWayToListDisks()
    {
        ExpectError("image = \"tiny\"", "image = \"tiny\"\nkernel = \"/boot/vmlinuz\"", "vm[0].kernel", "set either image", at: "kernel");
        var text = Edit("kernel = \"/boot/vmlinuz\"\n", string.Empty);
        AssertError(Load(text), LineOf(text, "initrd ="), "vm[1].initrd", "initrd needs kernel");
        text = Edit("image = \"tiny\"\n", string.Empty);
        text = Edit("disks = [\"vm1-root\"]\n", string.Empty, text);
        AssertError(Load(text), LineOf(text, "name = \"vm1\"") - 1, "vm[0].image", "nothing to boot");
        text = Edit("disks = [\"vm1-root\"]", "disks = [\"vm1-root\"]\n\n  [[vm.disk]]\n  volume = \"shared\"\n  read_only = true");
        AssertError(Load(text), LineOf(text, "volume = \"shared\"") - 1, "vm[0].disk", "use either disks = [...] or [[vm.disk]] tables");
    }

    // ---- references ----

    [Fact]
    public void ReferencesToUndefinedThingsSuggestTheClosestName()
    {
        ExpectError("node = \"n1\"", "node = \"n4\"", "vm[0].node", "vm 'vm1' is pinned to node 'n4', which is not defined; did you mean 'n1'?");
        ExpectError("disks = [\"vm1-root\"]", "disks = [\"vm1-rot\"]", "vm[0].disks[0]", "vm 'vm1' uses volume 'vm1-rot', which is not defined; did you mean 'vm1-root'?");
        ExpectError("volume = \"vm2-root\"", "volume = \"nothing-like-it\"", "vm[1].disk[0].volume", "(defined: vm1-root, vm2-root, shared)");
        ExpectError("network = \"lan\"", "network = \"lna\"", "vm[1].nic[1].network", "network 'lna', which is not defined; did you mean 'lan'?");
        ExpectError("pool = \"rbd\"\nsize = \"1GiB\"", "pool = \"rdb\"\nsize = \"1GiB\"", "volume[2].pool", "volume 'shared' is in pool 'rdb', which is not defined; did you mean 'rbd'?");
        ExpectError("monitors = [\"n1\"]", "monitors = [\"n1\", \"x9\"]", "cluster.monitors[1]", "monitor 'x9' is not a [[node]]");
    }

    [Fact]
    public void AnEntryWithAnErrorDoesNotCascadeIntoUndefinedReferences()
    {
        var text = Edit("pg_count = 64", "pg_count = 63");
        var result = Load(text);
        Assert.Single(result.Errors);
        AssertError(result, LineOf(text, "pg_count = 63"), "pool[0].pg_count", "power of two");
    }

    [Fact]
    public void SeveralMonitorsNeedEtcd()
    {
        ExpectError("monitors = [\"n1\"]", "monitors = [\"n1\", \"n2\", \"n3\"]", "cluster.monitors", "3 monitors need a [cluster.etcd] section");
        ExpectError("monitors = [\"n1\"]", "monitors = [\"n1\", \"n1\"]", "cluster.monitors[1]", "listed twice");
        ExpectError("monitors = [\"n1\"]", "monitors = []", "cluster.monitors", "no monitors");
    }

    // ---- VM resources ----

    [Fact]
    public void AVolumeHasOneWriter()
    {
        ExpectError("volume = \"vm2-root\"", "volume = \"vm1-root\"", "vm[1].disk[0].volume", "volume 'vm1-root' is already used by vm 'vm1'");
        ExpectError("disks = [\"vm1-root\"]", "disks = [\"vm1-root\", \"vm1-root\"]", "vm[0].disks[1]", "attaches volume 'vm1-root' twice");
        var shared = Edit("disks = [\"vm1-root\"]", "disks = [\"vm1-root\", \"shared\"]");
        AssertError(Load(shared), LineOf(shared, "volume = \"shared\""), "vm[1].disk[1].volume", "volume 'shared' is already used by vm 'vm1'");

        // Read-only everywhere is fine.
        var text = Edit("disks = [\"vm1-root\"]", "disks = [\"vm1-root\"]\n\n[[vm]]\nname = \"vm3\"\nmemory = \"64MiB\"\nimage = \"tiny\"\n\n  [[vm.disk]]\n  volume = \"shared\"\n  read_only = true");
        Assert.True(Load(text).Succeeded, string.Join('\n', Load(text).Problems));
    }

    [Fact]
    public void MacsMustBeUnicastSixOctets()
    {
        ExpectError("mac = \"52:54:00:0a:00:0b\"", "mac = \"52:54:00:0a:00\"", "vm[0].nic[0].mac", "six hex octets separated by ':'");
        ExpectError("mac = \"52:54:00:0a:00:0b\"", "mac = \"52-54-00-0a-00-0b\"", "vm[0].nic[0].mac", "found \"52-54-00-0a-00-0b\"");
        ExpectError("mac = \"52:54:00:0a:00:0b\"", "mac = \"01:00:5e:00:00:01\"", "vm[0].nic[0].mac", "is a multicast MAC address");
        ExpectError("mac = \"52:54:00:0a:00:0b\"", "mac = \"00:00:00:00:00:00\"", "vm[0].nic[0].mac", "all-zero");
    }

    [Fact]
    public void NicAddressesBelongToTheirNetwork()
    {
        ExpectError("ip = \"10.10.0.11/24\"", "ip = \"10.99.0.11/24\"", "vm[0].nic[0].ip", "10.99.0.11/24 is outside network 'overlay' (10.10.0.0/24)");
        ExpectError("ip = \"10.10.0.11/24\"", "ip = \"10.10.0.11/16\"", "vm[0].nic[0].ip", "has prefix /16 but network 'overlay' is 10.10.0.0/24; write 10.10.0.11/24");
        ExpectError("ip = \"10.10.0.11/24\"", "ip = \"10.10.0.255/24\"", "vm[0].nic[0].ip", "is the broadcast address");
        ExpectError("ip = \"10.20.0.12/24\"", "ip = \"10.20.0.1/24\"", "vm[1].nic[1].ip", "is network 'lan''s gateway");
        ExpectError("ip = \"10.10.0.11/24\"", "ip = \"10.10.0.11\"", "vm[0].nic[0].ip", "the prefix length is missing");
    }

    [Fact]
    public void VmsPinnedToANodeMustFitIt()
    {
        var text = Edit("vm_memory = \"2GiB\"\nvm_cpus = 2\nuplink", "vm_cpus = 2\nuplink");
        AssertError(Load(text), LineOf(text, "node = \"n2\""), "vm[1].node", "which offers no vm_memory");
        var warning = ExpectError("vcpus = 1", "vcpus = 4", "vm[0].vcpus", "CPUs are overcommitted", ConfigSeverity.Warning);
        Assert.Contains("warning", warning.ToString(), StringComparison.Ordinal);
        text = Edit("memory = \"256MiB\"\nimage", "memory = \"3GiB\"\nimage");
        var result = Load(text);
        Assert.True(result.Succeeded, "an overcommitted node is a warning, not an error");
        AssertError(result, LineOf(text, "memory = \"3GiB\""), "vm[0].memory", "need 3GiB of memory, more than its vm_memory 2GiB", ConfigSeverity.Warning);
    }

    // ---- pools against the nodes ----

    [Fact]
    public void ReplicasBeyondTheFailureDomainsWarnAndMinReplicasBeyondThemFail()
    {
        var text = Edit("replicas = 3\nmin_replicas = 2", "replicas = 4\nmin_replicas = 2");
        var result = Load(text);
        Assert.True(result.Succeeded);
        AssertError(result, LineOf(text, "replicas = 4"), "pool[0].replicas", "wants 4 replicas in distinct hosts but the nodes have only 3 distinct hosts", ConfigSeverity.Warning);

        text = Edit("replicas = 3\nmin_replicas = 2", "replicas = 4\nmin_replicas = 4");
        AssertError(Load(text), LineOf(text, "min_replicas = 4"), "pool[0].min_replicas", "needs 4 replicas in distinct hosts for I/O (min_replicas), but the nodes have only 3 distinct hosts");

        text = Edit("failure_domain = \"host\"", "failure_domain = \"rack\"");
        result = Load(text);
        Assert.True(result.Succeeded);
        AssertError(result, LineOf(text, "replicas = 3"), "pool[0].replicas", "only 2 distinct racks", ConfigSeverity.Warning);

        text = Edit("failure_domain = \"rack2/n3\"", "failure_domain = \"n3\"", Edit("failure_domain = \"host\"", "failure_domain = \"rack\""));
        AssertError(Load(text), LineOf(text, "failure_domain = \"rack\""), "pool[0].failure_domain", "node 'n3' has failure_domain \"n3\" with no rack part");
    }

    // ---- models built in code ----

    [Fact]
    public void ValidateChecksConfigsBuiltInCode()
    {
        var config = Load().Config!;
        Assert.Empty(ConfigValidator.Validate(config));
        var broken = config with { Vms = [.. config.Vms, config.Vms[0] with { Name = "vm9", Nics = [] }] };
        var problems = ConfigValidator.Validate(broken);
        Assert.Contains(problems, problem => problem.Message.Contains("volume 'vm1-root' is already used by vm 'vm1'", StringComparison.Ordinal));
    }
}
