using Fabric.Config.Loading;
using Fabric.Config.Validation;

namespace Fabric.Config.Tests.Config;

/// <summary>
/// A valid config using every feature, for tests that break one thing at a time and check the message
/// points at the right file, line, column and key.
/// </summary>
internal static class SampleConfig
{
    public const string FileName = "sample.toml";

    public const string Text = """
        [cluster]
        name = "test"
        monitors = ["n1"]
        heartbeat_interval = "500ms"
        heartbeat_grace = "3s"
        down_out_interval = "60s"

        [[node]]
        name = "n1"
        grpc = "127.0.0.1:7000"
        data = "127.0.0.1"
        storage_port = 6800
        metrics = "127.0.0.1:9100"
        failure_domain = "rack1/n1"
        capacity = "8GiB"
        vm_memory = "2GiB"
        vm_cpus = 2

        [[node]]
        name = "n2"
        grpc = "127.0.0.2:7000"
        data = "127.0.0.2"
        failure_domain = "rack1/n2"
        capacity = "8GiB"
        vm_memory = "2GiB"
        vm_cpus = 2
        uplink = "eth1"

        [[node]]
        name = "n3"
        grpc = "127.0.0.3:7000"
        data = "127.0.0.3"
        failure_domain = "rack2/n3"
        capacity = "8GiB"
        vm_memory = "1GiB"
        vm_cpus = 1
        storage_path = "/srv/fabric/n3"

        [[pool]]
        name = "rbd"
        replicas = 3
        min_replicas = 2
        pg_count = 64
        failure_domain = "host"

        [[volume]]
        name = "vm1-root"
        pool = "rbd"
        size = "256MiB"
        object_size = "4MiB"

        [[volume]]
        name = "vm2-root"
        pool = "rbd"
        size = "256MiB"

        [[volume]]
        name = "shared"
        pool = "rbd"
        size = "1GiB"

        [[network]]
        name = "lan"
        kind = "vlan"
        vlan = 100
        subnet = "10.20.0.0/24"
        gateway = "10.20.0.1"
        mtu = 1500

        [[network]]
        name = "overlay"
        kind = "vxlan"
        vni = 5001
        subnet = "10.10.0.0/24"

          [[network.acl]]
          action = "allow"
          protocol = "icmp"
          priority = 100

          [[network.acl]]
          action = "deny"
          direction = "in"
          protocol = "tcp"
          port = "8000-8080"
          cidr = "10.0.0.0/8"
          priority = 90

        [[vm]]
        name = "vm1"
        node = "n1"
        vcpus = 1
        memory = "256MiB"
        image = "tiny"
        workload = "ping 10.10.0.12"
        ha = true
        disks = ["vm1-root"]

          [[vm.nic]]
          network = "overlay"
          mac = "52:54:00:0a:00:0b"
          ip = "10.10.0.11/24"

        [[vm]]
        name = "vm2"
        node = "n2"
        memory = "256MiB"
        kernel = "/boot/vmlinuz"
        initrd = "/boot/initrd.img"
        cmdline = "console=ttyS0"
        restart = "on-crash"
        accel = "tcg"
        stop_timeout = "10s"

          [[vm.disk]]
          volume = "vm2-root"

          [[vm.disk]]
          volume = "shared"
          transport = "nbd"
          read_only = true

          [[vm.nic]]
          network = "overlay"
          mac = "52:54:00:0a:00:0c"
          ip = "10.10.0.12/24"
          port = "vm2-eth0"

          [[vm.nic]]
          network = "lan"
          mac = "52:54:00:14:00:0c"
          ip = "10.20.0.12/24"
        """;

    public static ConfigLoadResult Load(string text = Text) => ClusterConfigLoader.Parse(text, FileName);

    /// <summary>Replaces exactly one occurrence of <paramref name="from"/> (so a test cannot silently edit nothing).</summary>
    public static string Edit(string from, string to, string text = Text)
    {
        var at = text.IndexOf(from, StringComparison.Ordinal);
        Assert.True(at >= 0, $"the sample has no '{from}'");
        Assert.True(text.IndexOf(from, at + 1, StringComparison.Ordinal) < 0, $"the sample has '{from}' more than once");
        return string.Concat(text.AsSpan(0, at), to, text.AsSpan(at + from.Length));
    }

    /// <summary>The 1-based line of the first line containing <paramref name="fragment"/> at or after <paramref name="after"/>.</summary>
    public static int LineOf(string text, string fragment, string? after = null)
    {
        var lines = text.Split('\n');
        var start = 0;
        if (after is not null)
        {
            start = Array.FindIndex(lines, line => line.Contains(after, StringComparison.Ordinal));
            Assert.True(start >= 0, $"no line contains '{after}'");
        }

        var index = Array.FindIndex(lines, start, line => line.Contains(fragment, StringComparison.Ordinal));
        Assert.True(index >= 0, $"no line contains '{fragment}'");
        return index + 1;
    }

    /// <summary>
    /// Asserts the result failed with an error at <paramref name="line"/> about <paramref name="keyPath"/> whose
    /// message contains <paramref name="message"/>, and that its text names file:line and the key.
    /// </summary>
    public static ConfigError AssertError(ConfigLoadResult result, int line, string keyPath, string message, ConfigSeverity severity = ConfigSeverity.Error)
    {
        if (severity == ConfigSeverity.Error)
        {
            Assert.False(result.Succeeded, "the config was accepted");
        }

        var match = result.Problems.FirstOrDefault(problem =>
            problem.Severity == severity && problem.KeyPath == keyPath && problem.Message.Contains(message, StringComparison.Ordinal));
        Assert.True(match is not null, $"no {severity} for {keyPath} containing '{message}'; got:\n{string.Join('\n', result.Problems)}");
        Assert.Equal(line, match.Location.Line);
        var text = match.ToString();
        Assert.Contains($"{FileName}:{line}:", text, StringComparison.Ordinal);
        Assert.Contains(keyPath, text, StringComparison.Ordinal);
        return match;
    }
}
