using System.Text;
using System.Text.Json.Nodes;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// Replicated volumes as disks, end to end with real processes: tools over `fabric volume export-nbd`
/// (qemu-img, qemu-io), a real guest on a vhost-user-blk disk whose flushed writes survive a storage node's
/// kill -9 and a boot on another node, and the CLI's refusals.
/// </summary>
public sealed class ReplicatedDiskTests(ReplicatedDiskFixture fixture) : IClassFixture<ReplicatedDiskFixture>
{
    private const int Blocks = 160;

    // First boot: write block i (4 KiB, "block-i" padded) with fsync, print FLUSHED i after each flush, power off.
    // A later boot of the same disk finds block 1 written and verifies every block instead.
    private static readonly string PatternWorkload =
        "if dd if=/dev/vda bs=4096 skip=1 count=1 2>/dev/null | grep -q '^block-1 '; then\n" +
        $"  bad=0; i=0; while [ $i -lt {Blocks} ]; do i=$((i+1)); got=$(dd if=/dev/vda bs=4096 skip=$i count=1 2>/dev/null | tr -d ' \\n'); " +
        "[ \"$got\" = \"block-$i\" ] || { echo \"VERIFY-BAD $i\"; bad=1; }; done; [ $bad = 0 ] && echo \"VERIFY-OK $i\"\n" +
        "else\n" +
        $"  i=0; while [ $i -lt {Blocks} ]; do i=$((i+1)); printf '%-4095s\\n' \"block-$i\" | dd of=/dev/vda bs=4096 seek=$i count=1 conv=notrunc,fsync 2>/dev/null || " +
        "{ echo \"WRITE-FAILED $i\"; exit 1; }; echo \"FLUSHED $i\"; done; echo WRITES-DONE\n" +
        "fi";

    private TestCluster Cluster => fixture.Cluster;

    private async Task<JsonNode> ExportAsync(string volume, params string[] more)
    {
        var export = await Cluster.CliJsonAsync(["volume", "export-nbd", volume, .. more]);
        Assert.StartsWith($"nbd+unix:///{Uri.EscapeDataString(volume)}?socket=", (string)export["unix_uri"]!);
        Assert.StartsWith("nbd://", (string)export["tcp_uri"]!);
        return export;
    }

    [RequiresFact("qemu-img", "apt-get install qemu-utils")]
    public async Task Qemu_tools_read_and_write_a_replicated_volume_over_nbd_and_two_clients_see_each_others_flushed_writes()
    {
        var uri = (string)(await ExportAsync("img"))["unix_uri"]!;
        var dir = Directory.CreateTempSubdirectory("fabric-nbd-");
        try
        {
            var input = Path.Combine(dir.FullName, "in.raw");
            var data = new byte[8 << 20];
            new Random(7).NextBytes(data);
            await File.WriteAllBytesAsync(input, data);
            await RunAsync("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", input, uri);
            var back = Path.Combine(dir.FullName, "back.raw");
            await RunAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, back);
            var read = await File.ReadAllBytesAsync(back);
            Assert.Equal(32 << 20, read.Length);
            Assert.True(read.AsSpan(0, data.Length).SequenceEqual(data), "the volume does not hold the bytes qemu-img wrote");
            Assert.True(read.AsSpan(data.Length).IndexOfAnyExcept((byte)0) < 0, "bytes past the image are not zero");

            // Two connections at once: what one flushes, the other reads, both ways.
            await using var a = new QemuIoSession(uri);
            await using var b = new QemuIoSession(uri);
            Assert.Contains("wrote 65536/65536", await a.RunAsync("write -P 0x5a 1M 64k"));
            await a.RunAsync("flush");
            Assert.Contains("read 65536/65536", await b.RunAsync("read -P 0x5a 1M 64k"));
            Assert.Contains("wrote 65536/65536", await b.RunAsync("write -P 0xa5 2M 64k"));
            await b.RunAsync("flush");
            var seen = await a.RunAsync("read -P 0xa5 2M 64k");
            Assert.DoesNotContain("failed", seen);
            Assert.Contains("read 65536/65536", seen);
        }
        finally
        {
            dir.Delete(recursive: true);
            await Cluster.CliAsync("volume", "unexport-nbd", "img");
        }
    }

    [RequiresFact("qemu-io", "apt-get install qemu-utils")]
    public async Task A_snapshot_holds_writes_that_were_only_in_the_lock_holders_write_cache()
    {
        var uri = (string)(await ExportAsync("cachedsnap", "--node", "n1"))["unix_uri"]!;
        try
        {
            await using var writer = new QemuIoSession(uri, cache: "writeback");
            Assert.Contains("wrote 65536/65536", await writer.RunAsync("write -P 0x77 1M 64k"));
            // Not flushed: another node reads the volume from the cluster and does not see it yet (it is in n1's cache).
            var other = (string)(await ExportAsync("cachedsnap", "--read-only", "--node", "n2"))["unix_uri"]!;
            await using (var reader = new QemuIoSession(other, readOnly: true))
            {
                var before = await reader.RunAsync("read -P 0 1M 64k");
                Assert.DoesNotContain("fail", before);
                Assert.Contains("read 65536/65536", before);
            }
            // n1's /metrics shows it holding the 64 KiB.
            using var http = new HttpClient();
            var metrics = $"http://{Cluster.Address(0)}:9100/metrics";
            Assert.Contains("fabric_block_write_cache_dirty_bytes{volume=\"cachedsnap\"} 65536", await http.GetStringAsync(metrics));
            // The snapshot asks n1 to write its cache back first, so it holds the write.
            await Cluster.CliJsonAsync("volume", "snap", "create", "cachedsnap@s");
            var after = await http.GetStringAsync(metrics);
            Assert.Contains("fabric_block_write_cache_dirty_bytes{volume=\"cachedsnap\"} 0", after);
            Assert.Contains("fabric_block_write_cache_writeback_bytes_total{volume=\"cachedsnap\"} 65536", after);
            // The write-back went through the OSDs, whose latency counters show it: at its primary a replicated
            // write with a p50, at a replica a replicated commit (OsdPerfCounters on /metrics).
            long writes = 0, replicaCommits = 0;
            for (int node = 0; node < 3; node++)
            {
                string text;
                try
                {
                    text = await http.GetStringAsync($"http://{Cluster.Address(node)}:9100/metrics");
                }
                catch (HttpRequestException)
                {
                    continue; // A node another test of this fixture killed: the others carried the write-back.
                }
                writes += StageCount(text, "write");
                replicaCommits += StageCount(text, "replica_commit");
                if (StageCount(text, "write") > 0)
                {
                    Assert.Matches(@"(?m)^fabric_osd_op_latency_quantile_seconds\{osd=""\d+"",quantile=""0.5"",stage=""write""\} [0-9.eE-]+$", text);
                }
            }
            Assert.True(writes >= 1, "no OSD counted a replicated write");
            Assert.True(replicaCommits >= 1, $"{writes} writes but no replicated commit counted");
            var snap = (string)(await ExportAsync("cachedsnap@s", "--read-only", "--node", "n2"))["unix_uri"]!;
            await using (var reader = new QemuIoSession(snap, readOnly: true))
            {
                var seen = await reader.RunAsync("read -P 0x77 1M 64k");
                Assert.DoesNotContain("fail", seen);
                Assert.Contains("read 65536/65536", seen);
            }
        }
        finally
        {
            await Cluster.CliAsync("volume", "unexport-nbd", "cachedsnap@s", "--node", "n2");
            await Cluster.CliAsync("volume", "unexport-nbd", "cachedsnap", "--node", "n2");
            await Cluster.CliAsync("volume", "unexport-nbd", "cachedsnap", "--node", "n1");
            await Cluster.CliAsync("volume", "snap", "rm", "cachedsnap@s");
        }
    }

    // Prints each disk's serial (its volume) with the cache type the guest's block layer chose, then writes block 1
    // of both with O_DIRECT and no flush (the guest's page cache is out of the way, and the device gets no FLUSH).
    private const string CacheModeWorkload = """
        for d in vda vdb; do echo "$(cat /sys/block/$d/serial)=$(tr ' ' '-' < /sys/block/$d/queue/write_cache)"; done
        head -c 4096 /dev/zero | tr '\000' 'Z' > /tmp/block
        for d in vda vdb; do dd if=/tmp/block of=/dev/$d bs=4096 seek=1 count=1 oflag=direct conv=notrunc 2>/dev/null || echo "WRITE-FAILED $d"; done
        echo WROTE-UNFLUSHED
        """;

    [RequiresFact("qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public async Task A_writethrough_disk_is_write_through_in_the_guest_and_its_unflushed_writes_are_on_the_replicas_at_once()
    {
        var created = await Cluster.CliAsync("vm", "create", "modes", "--memory", "128MiB", "--accel", "tcg", "--node", "n2",
            "--disk", "through,cache=writethrough", "--disk", "back", "--workload", CacheModeWorkload, "--json");
        Assert.True(created.ExitCode == 0, created.ToString());
        try
        {
            var shown = await Cluster.CliJsonAsync("vm", "show", "modes");
            Assert.Equal(["writethrough", "default"], shown["disks"]!.AsArray().Select(d => (string)d!["cache"]!));

            var console = await VmCli.WaitConsoleAsync(Cluster, "modes", "WROTE-UNFLUSHED");
            Assert.DoesNotContain("WRITE-FAILED", console);
            // The write-through disk is offered without F_FLUSH; the other has n2's write cache (volatile: F_FLUSH).
            Assert.Matches(@"(?m)^through=write-through\r?$", console);
            Assert.Matches(@"(?m)^back=write-back\r?$", console);

            // Read from the replicas through another node (read-only, no lock, none of n2's cache): the write-through
            // disk's write is there although the guest never flushed; the write-back disk's is still only in n2's cache.
            var through = (string)(await ExportAsync("through", "--read-only", "--node", "n1"))["unix_uri"]!;
            await using (var reader = new QemuIoSession(through, readOnly: true))
            {
                var seen = await reader.RunAsync("read -P 0x5a 4k 4k");
                Assert.DoesNotContain("fail", seen);
                Assert.Contains("read 4096/4096", seen);
            }
            var back = (string)(await ExportAsync("back", "--read-only", "--node", "n1"))["unix_uri"]!;
            await using (var reader = new QemuIoSession(back, readOnly: true))
            {
                var seen = await reader.RunAsync("read -P 0 4k 4k");
                Assert.DoesNotContain("fail", seen);
                Assert.Contains("read 4096/4096", seen);
            }
            // Where it is: n2's write cache holds the write-back disk's block and nothing of the write-through one.
            using var http = new HttpClient();
            var metrics = await http.GetStringAsync($"http://{Cluster.Address(1)}:9100/metrics");
            Assert.Contains("fabric_block_write_cache_dirty_bytes{volume=\"back\"} 4096", metrics);
            Assert.Contains("fabric_block_write_cache_dirty_bytes{volume=\"through\"} 0", metrics);
        }
        finally
        {
            await Cluster.CliAsync("volume", "unexport-nbd", "through", "--node", "n1");
            await Cluster.CliAsync("volume", "unexport-nbd", "back", "--node", "n1");
            await Cluster.CliAsync("vm", "stop", "modes");
            await Cluster.CliAsync("vm", "rm", "modes");
        }
    }

    [RequiresFact("qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public async Task A_guests_flushed_writes_survive_a_storage_node_kill9_a_stop_and_a_boot_on_another_node()
    {
        var created = await Cluster.CliAsync("vm", "create", "pat", "--memory", "256MiB", "--accel", "tcg", "--disk", "disk", "--node", "n2",
            "--workload", PatternWorkload, "--cmdline", "fabric.poweroff=1", "--json");
        Assert.True(created.ExitCode == 0, created.ToString());

        // Kill a storage node (not the VM's, not the monitor) while the guest writes and flushes.
        await VmCli.WaitConsoleAsync(Cluster, "pat", @"(?m)^FLUSHED 1\d\r?$");
        Cluster.Kill9("n3");
        var console = await VmCli.WaitConsoleAsync(Cluster, "pat", "WRITES-DONE|WRITE-FAILED");
        Assert.DoesNotContain("WRITE-FAILED", console);
        Assert.Equal(Blocks, VmCli.MaxNumber(console, "FLUSHED"));
        // The guest powered off by itself: stopped, and not started again.
        var stopped = await VmCli.WaitStateAsync(Cluster, "pat", "stopped");
        Assert.False((bool)stopped["want_running"]!);

        // The same VM boots on another node and reads every flushed block back.
        var start = await Cluster.CliJsonAsync("vm", "start", "pat", "--node", "n1");
        Assert.Equal("n1", (string)start["node"]!);
        console = await VmCli.WaitConsoleAsync(Cluster, "pat", "VERIFY-OK|VERIFY-BAD");
        Assert.Contains($"VERIFY-OK {Blocks}", console);
        await VmCli.WaitStateAsync(Cluster, "pat", "stopped");

        // `fabric volume export` shows the same bytes, and so does a read-only NBD export (which holds no lock).
        var file = Path.Combine(Path.GetTempPath(), "fabric-pat-" + Guid.NewGuid().ToString("N")[..8]);
        var viaNbd = file + ".nbd";
        try
        {
            var export = await Cluster.CliAsync("volume", "export", "disk", file, "--json");
            Assert.True(export.ExitCode == 0, export.ToString());
            var uri = (string)(await ExportAsync("disk", "--read-only"))["unix_uri"]!;
            await RunAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, viaNbd);
            var bytes = await File.ReadAllBytesAsync(file);
            for (var i = 1; i <= Blocks; i++)
            {
                Assert.Equal($"block-{i}", Encoding.ASCII.GetString(bytes, i * 4096, 4096).TrimEnd(' ', '\n'));
            }
            var nbdBytes = await File.ReadAllBytesAsync(viaNbd);
            Assert.True(bytes.AsSpan().SequenceEqual(nbdBytes), "fabric volume export and the NBD export differ");
        }
        finally
        {
            File.Delete(file);
            File.Delete(viaNbd);
            await Cluster.CliAsync("volume", "unexport-nbd", "disk");
        }
        Assert.Equal(0, (await Cluster.CliAsync("vm", "rm", "pat")).ExitCode);
    }

    [RequiresFact("qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public async Task Bad_vm_specs_are_refused_with_a_clear_error_and_nothing_half_created_and_a_hung_guest_stops_at_its_timeout()
    {
        // A guest that ignores the ACPI power button, holding volume "spare".
        var created = await Cluster.CliAsync("vm", "create", "hung", "--memory", "128MiB", "--accel", "tcg", "--disk", "spare",
            "--cmdline", "fabric.powerbutton=ignore", "--stop-timeout", "3s", "--json");
        Assert.True(created.ExitCode == 0, created.ToString());
        await VmCli.WaitConsoleAsync(Cluster, "hung", "FABRIC-GUEST-READY hung");
        var before = await VmCli.NamesAsync(Cluster);

        var network = await Cluster.CliAsync("vm", "create", "bad1", "--nic", "net=nope");
        Assert.Equal(1, network.ExitCode);
        Assert.Contains("network nope does not exist", network.Stderr);

        var locked = await Cluster.CliAsync("vm", "create", "bad2", "--disk", "spare");
        Assert.Equal(1, locked.ExitCode);
        Assert.Contains("volume spare is in use: its exclusive lock is held by node.", locked.Stderr);
        Assert.Contains("for hung", locked.Stderr);

        var memory = await Cluster.CliAsync("vm", "create", "bad3", "--memory", "64GiB");
        Assert.Equal(1, memory.ExitCode);
        Assert.Matches(@"VM bad3 needs 64 GiB; the most free memory on any node is [\d.]+ [MG]iB \(n\d\)", memory.Stderr);

        // A file of several VMs is all or nothing: the good one is not created when another is refused.
        var file = Path.Combine(Cluster.Home, "vms.toml");
        await File.WriteAllTextAsync(file, """
            [[vm]]
            name = "good"
            memory = "64MiB"
            image = "tiny"
            disks = ["spare2"]

            [[vm]]
            name = "bad4"
            memory = "64MiB"
            image = "tiny"
            disks = ["spare"]
            """);
        var both = await Cluster.CliAsync("vm", "create", "-f", file);
        Assert.Equal(1, both.ExitCode);
        Assert.Contains("VM bad4: volume spare is in use", both.Stderr);
        Assert.Equal(before, await VmCli.NamesAsync(Cluster));

        // The hung guest never powers off: stop forces it after its 3 s stop timeout.
        var stop = await CliRun.RunAsync(["vm", "stop", "hung", "--json", "--home", Cluster.Home, "--config", Cluster.ConfigPath], timeout: TimeSpan.FromSeconds(60));
        Assert.True(stop.ExitCode == 0, stop.ToString() + "\n" + Cluster.Logs());
        Assert.Equal("stopped", (string)stop.Json["state"]!);
        Assert.DoesNotContain("FABRIC-GUEST-POWERDOWN", await VmCli.ConsoleAsync(Cluster, "hung"));
        Assert.Equal(0, (await Cluster.CliAsync("vm", "rm", "hung")).ExitCode);
    }

    private static async Task RunAsync(string program, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}{await stdout}");
    }

    private static long StageCount(string metrics, string stage) =>
        System.Text.RegularExpressions.Regex.Matches(metrics, $@"(?m)^fabric_osd_ops_total\{{osd=""\d+"",stage=""{stage}""\}} (\d+)$")
            .Sum(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
}
