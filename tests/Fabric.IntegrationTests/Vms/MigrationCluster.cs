using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fabric.IntegrationTests.Support;
using Fabric.Membership.Client;
using Fabric.Proto;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// What the live-migration and HA tests share: a 3-node cluster config with a 3-replica pool, a VXLAN network
/// and volumes, the two guests' workloads (A writes a counter to its disk with fsync; B pings A), and the checks
/// (the counter on disk, B's ping sequence, QEMU processes of a VM across the cluster).
/// </summary>
public static class MigrationCluster
{
    public const string Extra = """

        [[pool]]
        name = "rbd"
        replicas = 3
        min_replicas = 2
        pg_count = 32

        [[volume]]
        name = "adisk"
        pool = "rbd"
        size = "32MiB"

        [[volume]]
        name = "bdisk"
        pool = "rbd"
        size = "16MiB"

        [[network]]
        name = "overlay"
        kind = "vxlan"
        vni = 5001
        subnet = "10.10.0.0/24"
        mtu = 1450
        """;

    public const string MacA = "52:54:00:0a:00:0b";
    public const string IpA = "10.10.0.11";
    public const string IpB = "10.10.0.12";

    /// <summary>Block i (4 KiB) of the disk holds "count-i", written with fsync; "FLUSHED i" follows each write.</summary>
    public const string CounterWorkload =
        "ping -i 0.5 " + IpB + " >/dev/null 2>&1 &\n" +
        "i=0; while [ $i -lt 7000 ]; do i=$((i+1)); printf '%-4095s\\n' \"count-$i\" | dd of=/dev/vda bs=4096 seek=$i count=1 conv=notrunc,fsync 2>/dev/null || " +
        "{ echo \"WRITE-FAILED $i\"; exit 1; }; echo \"FLUSHED $i\"; sleep 0.05; done; echo WRITES-DONE; sleep 100000";

    public const string PingWorkload = "ping -i 0.2 " + IpA;

    /// <param name="nodeExtra">TOML added to every node (the migration tests run with a write cache).</param>
    public static TestCluster Create(string nodeExtra = "") => TestCluster.Create(3, Extra, nodeExtra: nodeExtra);

    /// <summary>The write cache the migration tests run with: a switch-over must move every write the guest flushed.</summary>
    public const string WriteCache = "write_cache = \"8MiB\"";

    public static async Task CreateVmsAsync(TestCluster cluster, string nodeA, string nodeB, bool ha = false)
    {
        string[] a = ["vm", "create", "a", "--memory", "256MiB", "--accel", "tcg", "--cmdline", "no_timer_check", "--disk", "adisk", "--node", nodeA,
            "--nic", $"net=overlay,mac={MacA},ip={IpA}/24", "--workload", CounterWorkload, "--json"];
        if (ha) a = [.. a, "--ha"];
        var created = await cluster.CliAsync(a);
        Assert.True(created.ExitCode == 0, created.ToString() + "\n" + cluster.Logs());
        created = await cluster.CliAsync("vm", "create", "b", "--memory", "256MiB", "--accel", "tcg", "--cmdline", "no_timer_check", "--disk", "bdisk", "--node", nodeB,
            "--nic", $"net=overlay,mac=52:54:00:0a:00:0c,ip={IpB}/24", "--workload", PingWorkload, "--json");
        Assert.True(created.ExitCode == 0, created.ToString());
        await VmCli.WaitConsoleAsync(cluster, "a", @"(?m)^FLUSHED 5\r?$");
        await VmCli.WaitConsoleAsync(cluster, "b", @"bytes from " + Regex.Escape(IpA));
    }

    public static async Task<ClusterMap> MapAsync(TestCluster cluster)
    {
        using var monitors = new MonitorClient([cluster.Grpc("n1")]);
        return await monitors.GetLatestMapAsync(CancellationToken.None);
    }

    /// <summary>The VM's node in the map, its state, and the node its (writable) disk's lock belongs to.</summary>
    public static async Task<(string Node, VmState State, string LockNode, ulong Generation)> WhereAsync(TestCluster cluster, string vm)
    {
        var map = await MapAsync(cluster);
        var info = map.Vms.Single(v => v.Spec.Name == vm);
        var volume = map.Volumes.Single(v => v.Name == info.Spec.Disks[0].Volume);
        return (map.Nodes.SingleOrDefault(n => n.Id == info.NodeId)?.Name ?? "", info.State,
            volume.Lock is { Owner.Length: > 0 } l ? map.Nodes.Single(n => n.Id == l.NodeId).Name : "", info.Generation);
    }

    /// <summary>QEMU processes of VM <paramref name="vm"/> in this cluster, by node (from their command lines).</summary>
    public static IReadOnlyList<(int Pid, string Node, char State)> Qemus(TestCluster cluster, string vm)
    {
        var found = new List<(int, string, char)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (!cmdline.Contains("qemu-system", StringComparison.Ordinal) || !cmdline.Contains(cluster.Home, StringComparison.Ordinal)) continue;
                var m = Regex.Match(cmdline, @"/run/([^/\s]+)/vms/" + Regex.Escape(vm) + "/");
                if (!m.Success) m = Regex.Match(cmdline, @"node-([^/\s]+)/vms/" + Regex.Escape(vm) + "/");
                if (!m.Success || !cmdline.Contains($"guest={vm},", StringComparison.Ordinal)) continue;
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var state = stat[stat.LastIndexOf(')') + 2];
                if (state == 'Z') continue;
                found.Add((pid, m.Groups[1].Value, state));
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return found;
    }

    /// <summary>Migrates with the real CLI; returns its JSON report.</summary>
    public static async Task<JsonNode> MigrateAsync(TestCluster cluster, string vm, params string[] more)
    {
        var result = await cluster.CliAsync(["vm", "migrate", vm, .. more, "--json"]);
        Assert.True(result.ExitCode == 0, $"fabric vm migrate {vm} {string.Join(' ', more)}: {result}\n{cluster.Logs()}");
        return result.Json;
    }

    /// <summary>Waits until `fabric vm migrations` shows the VM's migration running with at least that many bytes sent.</summary>
    public static Task<JsonNode> WaitMigratingAsync(TestCluster cluster, string vm, long bytes) =>
        Wait.UntilAsync(async () => (await cluster.CliJsonAsync("vm", "migrations"))["migrations"]!.AsArray().FirstOrDefault(m => (string)m!["name"]! == vm && (bool)m["running"]!)!,
            m => m is not null && (string?)m["status"] == "active" && (long?)m["transferred_bytes"] >= bytes, VmCli.Deadline, $"the migration of {vm} to be under way");

    /// <summary>
    /// Reads the counter blocks of the volume (through a read-only NBD export): the highest i such that blocks
    /// 1..i all hold "count-k", and the first block after that which is not empty (a gap, if any).
    /// </summary>
    public static async Task<(int Contiguous, int? After)> ReadCounterAsync(TestCluster cluster, string volume)
    {
        var export = await cluster.CliJsonAsync("volume", "export-nbd", volume, "--read-only");
        var file = Path.Combine(cluster.Home, volume + "-" + Guid.NewGuid().ToString("N")[..6] + ".raw");
        try
        {
            var start = new ProcessStartInfo("qemu-img") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "convert", "-f", "raw", "-O", "raw", (string)export["unix_uri"]!, file }) start.ArgumentList.Add(a);
            using (var p = Process.Start(start)!)
            {
                var err = await p.StandardError.ReadToEndAsync();
                await p.WaitForExitAsync();
                Assert.True(p.ExitCode == 0, "qemu-img convert: " + err);
            }
            var data = await File.ReadAllBytesAsync(file);
            var blocks = data.Length / 4096;
            var contiguous = 0;
            for (var i = 1; i < blocks; i++)
            {
                var text = Encoding.ASCII.GetString(data, i * 4096, 32).TrimEnd(' ', '\n', '\0');
                if (text != $"count-{i}") break;
                contiguous = i;
            }
            int? after = null;
            for (var i = contiguous + 1; i < blocks; i++)
            {
                if (data.AsSpan(i * 4096, 4096).IndexOfAnyExcept((byte)0) >= 0) { after = i; break; }
            }
            return (contiguous, after);
        }
        finally
        {
            File.Delete(file);
            await cluster.CliAsync("volume", "unexport-nbd", volume);
        }
    }

    /// <summary>The icmp_seq numbers B got answers for, in order.</summary>
    public static IReadOnlyList<int> PingSequence(string console) =>
        Regex.Matches(console, @"bytes from " + Regex.Escape(IpA) + @": seq=(\d+)").Select(m => int.Parse(m.Groups[1].Value)).ToList();

    /// <summary>Runs of missing sequence numbers between the first and the last answer.</summary>
    public static IReadOnlyList<(int From, int Count)> Gaps(IReadOnlyList<int> seqs)
    {
        var gaps = new List<(int, int)>();
        var seen = seqs.ToHashSet();
        if (seqs.Count == 0) return gaps;
        var (min, max) = (seqs.Min(), seqs.Max());
        for (var s = min; s <= max; s++)
        {
            if (seen.Contains(s)) continue;
            var from = s;
            while (s <= max && !seen.Contains(s)) s++;
            gaps.Add((from, s - from));
        }
        return gaps;
    }
}
