using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Fabric.Hypervisor.Migration;
using Fabric.Hypervisor.Runtime;
using Fabric.Hypervisor.Tests.Infra;
using Fabric.Proto;

namespace Fabric.Hypervisor.Tests.Migration;

/// <summary>
/// Live migration between two runtimes ("nodes") on this machine, sharing volumes through separate
/// exports of one file (one qemu-storage-daemon per QEMU, like the real block backend) and one lock table.
/// The guest runs a counter that writes sector i with value i and fsyncs before printing it: after any
/// number of migrations, the disk must hold 1..N without a gap, and N must cover every printed value.
/// </summary>
[Collection(QemuCollection.Name)]
public class MigrationTests(GuestImageFixture guest) : IDisposable
{
    private const string Counter =
        "i=0\nwhile true; do i=$((i+1)); if printf '%-511s\\n' \"$i\" | dd of=/dev/vda bs=512 seek=$i count=1 conv=notrunc,fsync 2>/tmp/dd.err; " +
        "then echo \"C $i\"; else echo \"WRITE-FAILED $i: $(cat /tmp/dd.err)\"; exit 1; fi; done";

    private readonly TestDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Nodes(VmHarness A, VmHarness B, TestVmDisks Disks) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
            await Disks.DisposeAsync();
        }
    }

    private Nodes TwoNodes()
    {
        var disks = new TestVmDisks(_dir.Sub("volumes"), _dir.Sub("exports"));
        return new Nodes(new VmHarness(guest.Image, _dir, "a", disks), new VmHarness(guest.Image, _dir, "b", disks), disks);
    }

    private static VmSpec CounterVm(string transport = "vhost-user") =>
        VmHarness.Spec("mig", workload: Counter, disks: [new VmDisk { Volume = "counter", Transport = transport }],
            nics: [new VmNic { Network = "net1", Ip = "10.0.0.5/24" }]);

    private sealed record Move(MigrationReport Report, VmOperationResult Destination, List<MigrationProgress> Progress);

    /// <summary>One migration as the node would orchestrate it: prepare, migrate with the switch-over hook, wait.</summary>
    private static async Task<Move> MigrateAsync(VmHarness from, VmHarness to, VmSpec spec, ulong generation,
        Func<MigrationRequest, MigrationRequest>? tune = null, Func<MigrationDestination, Task>? whileRunning = null,
        CancellationToken cancel = default, bool postcopy = false)
    {
        var (dest, prepared) = await to.Runtime.PrepareIncomingAsync(spec, new IncomingMigrationOptions { Generation = generation, Postcopy = postcopy });
        Assert.True(prepared.Ok, prepared.ToString());
        Assert.False(to.Switch.IsActive($"{spec.Name}-0")); // attached, inactive until switch-over
        var destDone = dest!.WaitAsync(CancellationToken.None);
        var progress = new List<MigrationProgress>();
        var request = new MigrationRequest
        {
            Uri = dest.Uri,
            DestinationName = "b",
            Postcopy = postcopy,
            ProgressInterval = TimeSpan.FromMilliseconds(100),
            Takeover = (resume, ct) => dest.SwitchoverAsync(resume, ct),
            SwitchBack = ct => dest.ReleaseSwitchoverAsync(ct),
        };
        if (tune is not null) request = tune(request);
        var run = from.Runtime.MigrateOutAsync(spec.Name, request, new SyncProgress(p => { lock (progress) progress.Add(p); }), cancel);
        if (whileRunning is not null) await whileRunning(dest);
        var report = await run;
        var destResult = await destDone.WaitAsync(TimeSpan.FromMinutes(2));
        return new Move(report, destResult, progress);
    }

    private sealed class SyncProgress(Action<MigrationProgress> report) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value) => report(value);
    }

    private static long ConsoleLength(VmHarness node, string vm) =>
        File.Exists(node.Runtime.ConsoleLogPath(vm)) ? new FileInfo(node.Runtime.ConsoleLogPath(vm)).Length : 0;

    /// <summary>The guest's counter advanced on <paramref name="node"/> after byte <paramref name="from"/> of its console.</summary>
    private static Task CounterRunsOn(VmHarness node, long from) =>
        node.WaitForConsoleAsync("mig", "\nC ", from, TimeSpan.FromMinutes(2));

    [QemuFact]
    public async Task A_guest_writing_its_disk_migrates_back_and_forth_without_losing_a_write()
    {
        await using var n = TwoNodes();
        n.Disks.CreateVolume("counter", 64 << 20);
        var spec = CounterVm();
        Assert.True((await n.A.Runtime.StartAsync(spec, new VmStartOptions { Generation = 1 })).Ok);
        await CounterRunsOn(n.A, 0);

        var hops = new[] { (n.A, n.B), (n.B, n.A), (n.A, n.B) };
        for (var i = 0; i < hops.Length; i++)
        {
            var (from, to) = hops[i];
            var mark = ConsoleLength(to, "mig");
            var move = await MigrateAsync(from, to, spec, (ulong)i + 2);
            Assert.True(move.Report.Ok, move.Report.ToString());
            Assert.True(move.Destination.Ok, move.Destination.ToString());
            Assert.True(move.Report.TotalTimeMs > 0);
            Assert.NotNull(move.Report.DowntimeMs);
            Assert.True(move.Report.TransferredBytes > 0);
            Assert.NotEmpty(move.Progress);

            Assert.Equal(VmState.Running, to.Runtime.GetStatus("mig")!.State);
            await from.WaitForChangeAsync("mig", c => c.MigratedAway, TimeSpan.FromSeconds(30));
            Assert.Null(from.Runtime.GetStatus("mig"));
            Assert.Empty(from.Switch.PortNames);
            Assert.True(to.Switch.IsActive("mig-0"));
            Assert.Equal($"mig-disk0-g{i + 2}-in", n.Disks.LockHolder("counter"));
            // The source released before the destination took the lock.
            var journal = n.Disks.Journal.TakeLast(2).ToList();
            Assert.StartsWith("unlock counter", journal[0]);
            Assert.Equal($"lock counter mig-disk0-g{i + 2}-in", journal[1]);
            await CounterRunsOn(to, mark);
        }

        var last = n.B;
        Assert.True((await last.Runtime.StopAsync("mig")).Ok);
        AssertCounterHasNoGap(n);
    }

    private static void AssertCounterHasNoGap(Nodes n)
    {
        var disk = File.ReadAllBytes(n.Disks.VolumePath("counter"));
        var written = 0;
        for (var k = 1; (k + 1) * 512 <= disk.Length; k++)
        {
            var text = Encoding.ASCII.GetString(disk, k * 512, 512).Trim('\0', ' ', '\n');
            if (text.Length == 0) break;
            Assert.Equal(k.ToString(), text);
            written = k;
        }
        Assert.True(written > 0);
        // Past the first empty sector nothing may have been written (a gap would show up here).
        for (var k = written + 1; (k + 1) * 512 <= disk.Length; k++)
        {
            Assert.True(disk.AsSpan(k * 512, 512).IndexOfAnyExcept((byte)0) < 0, $"sector {k} written after a gap at {written + 1}");
        }
        var printed = new[] { n.A, n.B }
            .SelectMany(h => Regex.Matches(h.Console("mig"), @"(?m)^C (\d+)\r?$").Select(m => int.Parse(m.Groups[1].Value)))
            .DefaultIfEmpty(0).Max();
        Assert.True(printed <= written, $"the guest printed {printed} after its fsync, but the disk holds only 1..{written}");
    }

    [QemuFact]
    public async Task Cancel_midway_and_destination_death_leave_the_vm_running_on_the_source_with_its_locks()
    {
        await using var n = TwoNodes();
        n.Disks.CreateVolume("counter", 64 << 20);
        var spec = CounterVm();
        Assert.True((await n.A.Runtime.StartAsync(spec, new VmStartOptions { Generation = 1 })).Ok);
        await CounterRunsOn(n.A, 0);
        var sourceLock = n.Disks.LockHolder("counter");

        // 1. Cancel while RAM is being copied (1 MiB/s keeps it copying for a while).
        using var cancel = new CancellationTokenSource();
        var move = await MigrateAsync(n.A, n.B, spec, 2, r => r with { BandwidthMiBps = 1 },
            whileRunning: async _ =>
            {
                await WhileMigratingAsync(n.A);
                cancel.Cancel();
            }, cancel: cancel.Token);
        Assert.Equal(MigrationOutcome.Cancelled, move.Report.Outcome);
        Assert.False(move.Destination.Ok);
        AssertStillOnSource(n, sourceLock);
        var mark = ConsoleLength(n.A, "mig");
        await CounterRunsOn(n.A, mark);

        // 2. The destination QEMU dies during the copy.
        var move2 = await MigrateAsync(n.A, n.B, spec, 3, r => r with { BandwidthMiBps = 1 },
            whileRunning: async dest =>
            {
                await WhileMigratingAsync(n.A);
                Process.GetProcessById(dest.Vm.Qemu!.Pid).Kill();
            });
        Assert.Equal(MigrationOutcome.Failed, move2.Report.Outcome);
        Assert.False(move2.Destination.Ok);
        AssertStillOnSource(n, sourceLock);
        mark = ConsoleLength(n.A, "mig");
        await CounterRunsOn(n.A, mark);

        // 3. The switch-over step fails (say, the map refused the move): cancelled, locks taken back.
        var move3 = await MigrateAsync(n.A, n.B, spec, 4, r => r with { Switchover = _ => Task.FromResult<string?>("the monitor refused the move") });
        Assert.Equal(MigrationOutcome.Cancelled, move3.Report.Outcome);
        Assert.Contains("the monitor refused the move", move3.Report.Error);
        AssertStillOnSource(n, sourceLock);
        Assert.Contains(n.Disks.Journal, j => j == $"unlock counter {sourceLock}");
        Assert.Equal($"lock counter {sourceLock}", n.Disks.Journal.Last());
        mark = ConsoleLength(n.A, "mig");
        await CounterRunsOn(n.A, mark);

        // 4. The destination's takeover fails after migrate-continue (it runs beside the final pass): QEMU may
        // well have completed, yet the guest resumes here with the locks taken back, and never ran there.
        var move3b = await MigrateAsync(n.A, n.B, spec, 5,
            r => r with { Takeover = (_, _) => Task.FromResult<string?>("the destination could not take its locks") });
        Assert.Equal(MigrationOutcome.Failed, move3b.Report.Outcome);
        Assert.Contains("the destination could not take its locks", move3b.Report.Error);
        Assert.False(move3b.Destination.Ok);
        AssertStillOnSource(n, sourceLock);
        Assert.Equal($"lock counter {sourceLock}", n.Disks.Journal.Last());
        mark = ConsoleLength(n.A, "mig");
        await CounterRunsOn(n.A, mark);

        // After all that, a real migration still works.
        var move4 = await MigrateAsync(n.A, n.B, spec, 6);
        Assert.True(move4.Report.Ok, move4.Report.ToString());
        await CounterRunsOn(n.B, 0);

        // 5. The takeover went through but its answer got lost: the source switches back unless the destination
        // already runs the guest; either way exactly one copy runs, holding the lock.
        var move5 = await MigrateAsync(n.B, n.A, spec, 7, r => r with
        {
            Takeover = async (resume, ct) => await r.Takeover!(resume, ct) ?? "the answer got lost",
        });
        var runsOn = move5.Report.Ok ? n.A : n.B;
        var idle = move5.Report.Ok ? n.B : n.A;
        Assert.Equal(VmState.Running, runsOn.Runtime.GetStatus("mig")!.State);
        Assert.Null(idle.Runtime.GetStatus("mig"));
        mark = ConsoleLength(runsOn, "mig");
        await CounterRunsOn(runsOn, mark);
        Assert.True((await runsOn.Runtime.StopAsync("mig")).Ok);
        AssertCounterHasNoGap(n);
    }

    /// <summary>Returns once the source has been migrating for a moment (RAM is flowing).</summary>
    private static async Task WhileMigratingAsync(VmHarness source)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (source.Runtime.GetStatus("mig")?.State != VmState.Migrating)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the source never started migrating");
            await Task.Delay(20);
        }
        await Task.Delay(1500);
    }

    private static void AssertStillOnSource(Nodes n, string? sourceLock)
    {
        Assert.Equal(VmState.Running, n.A.Runtime.GetStatus("mig")!.State);
        Assert.Null(n.B.Runtime.GetStatus("mig"));
        Assert.Empty(n.B.Switch.PortNames);
        Assert.DoesNotContain(n.Disks.ExportIds, id => id.EndsWith("-in", StringComparison.Ordinal));
        Assert.Equal(sourceLock, n.Disks.LockHolder("counter"));
        Assert.True(n.A.Switch.IsActive("mig-0"));
    }

    [QemuFact]
    public async Task Postcopy_moves_a_busy_guest_over_nbd()
    {
        await using var n = TwoNodes();
        n.Disks.CreateVolume("counter", 64 << 20);
        var spec = CounterVm("nbd");
        Assert.True((await n.A.Runtime.StartAsync(spec, new VmStartOptions { Generation = 1 })).Ok);
        await CounterRunsOn(n.A, 0);
        var move = await MigrateAsync(n.A, n.B, spec, 2, r => r with { BandwidthMiBps = 32 }, postcopy: true);
        Assert.True(move.Report.Ok, move.Report.ToString());
        Assert.True(move.Report.Postcopy);
        Assert.True(move.Destination.Ok, move.Destination.ToString());
        await CounterRunsOn(n.B, 0);
        Assert.True((await n.B.Runtime.StopAsync("mig")).Ok);
        AssertCounterHasNoGap(n);
    }
}
