using System.Diagnostics;
using System.Globalization;
using Fabric.Hypervisor.Guest;
using Fabric.Hypervisor.Migration;
using Fabric.Hypervisor.Qemu;
using Fabric.Hypervisor.Qmp;
using Fabric.Hypervisor.Runtime;
using Fabric.Proto;

namespace Fabric.Bench.Hypervisor;

/// <summary>
/// Hypervisor comparisons on this machine (run through bench/vm-compare.sh and bench/migrate-compare.sh):
///   boot      time from start to the guest's FABRIC-GUEST-READY: VmRuntime vs the same QEMU arguments by hand
///   density   how many small guests boot and run at once
///   migrate   live migration: plain QEMU over QMP by hand vs MigrationSource/MigrationDestination, idle or
///             with a guest that keeps rewriting N MiB of its memory
/// Runs alternate between the two sides (A/B), so machine noise hits both alike.
/// </summary>
public static class HypervisorBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: Fabric.Bench hypervisor boot|density|migrate [--runs N] [--memory-mib N] [--max N] [--dirty-mib N] [--image DIR]");
            return 2;
        }
        var opts = Options.Parse(args[1..]);
        var image = await GuestImage.BuildAsync(opts.ImageDir);
        var work = Directory.CreateTempSubdirectory("fhb-").FullName;
        try
        {
            return args[0] switch
            {
                "boot" => await BootAsync(image, work, opts),
                "density" => await DensityAsync(image, work, opts),
                "migrate" => await MigrateAsync(image, work, opts),
                _ => 2,
            };
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private sealed record Options(int Runs, int MemoryMiB, int Max, int DirtyMiB, string ImageDir, int? TbMiB)
    {
        public static Options Parse(string[] a)
        {
            string Get(string name, string def)
            {
                var i = Array.IndexOf(a, name);
                return i >= 0 && i + 1 < a.Length ? a[i + 1] : def;
            }
            return new Options(int.Parse(Get("--runs", "5"), CultureInfo.InvariantCulture), int.Parse(Get("--memory-mib", "128"), CultureInfo.InvariantCulture),
                int.Parse(Get("--max", "40"), CultureInfo.InvariantCulture), int.Parse(Get("--dirty-mib", "0"), CultureInfo.InvariantCulture),
                Get("--image", Path.Combine(Path.GetTempPath(), "fabric-bench-guest")),
                Get("--tb-mib", "") is { Length: > 0 } tb ? int.Parse(tb, CultureInfo.InvariantCulture) : null);
        }
    }

    private static VmSpec Spec(string name, int memoryMiB, string? workload = null)
    {
        var spec = new VmSpec { Name = name, Vcpus = 1, MemoryBytes = (ulong)memoryMiB << 20, Accel = "tcg", StopTimeoutMs = 5000 };
        spec.Cmdline = GuestCmdline.Compose(spec, new GuestCmdlineOptions { Workload = workload });
        return spec;
    }

    private static VmRuntime Runtime(string dir, GuestImagePaths image, NoDisks none, int? tbMiB = null) =>
        new(new VmRuntimeOptions { RunDirectory = dir, DefaultGuestImage = image, StartTimeout = TimeSpan.FromMinutes(2), TcgTranslationCacheMiB = tbMiB }, none, none);

    private static async Task<bool> WaitForAsync(string consoleLog, string text, Task? giveUp, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await ConsoleLog.WaitForAsync(consoleLog, text, 0, giveUp, cts.Token) >= 0;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    // ---- boot ----

    private static async Task<int> BootAsync(GuestImagePaths image, string work, Options o)
    {
        var none = new NoDisks();
        await using var runtime = Runtime(Path.Combine(work, "rt"), image, none);
        var fabric = new List<double>();
        var byHand = new List<double>();
        for (var run = 0; run < o.Runs; run++)
        {
            // Fabric: StartAsync (validation, QEMU -S, QMP handshake, cont), then the console marker.
            var name = $"b{run}";
            var sw = Stopwatch.StartNew();
            var r = await runtime.StartAsync(Spec(name, o.MemoryMiB));
            if (!r.Ok) { Console.Error.WriteLine(r); return 1; }
            var ok = await WaitForAsync(runtime.ConsoleLogPath(name), $"FABRIC-GUEST-READY {name}", null, TimeSpan.FromMinutes(3));
            sw.Stop();
            if (ok) fabric.Add(sw.Elapsed.TotalMilliseconds);
            await runtime.StopAsync(name, TimeSpan.FromSeconds(5));

            // By hand: the same generated arguments without -S, QEMU started directly, no QMP client.
            var dir = Directory.CreateDirectory(Path.Combine(work, $"h{run}")).FullName;
            var spec = Spec($"h{run}", o.MemoryMiB);
            var launch = new QemuLaunchSpec
            {
                Name = spec.Name, Vcpus = 1, MemoryBytes = spec.MemoryBytes, Kernel = image.Kernel, Initrd = image.Initrd, KernelCmdline = spec.Cmdline,
                QmpSocketPath = Path.Combine(dir, "qmp.sock"), ConsoleLogPath = Path.Combine(dir, "console.log"), PidFilePath = Path.Combine(dir, "qemu.pid"),
            };
            var args = QemuCommandLine.Build(launch);
            if (run == 0) Console.WriteLine($"# by-hand command: {QemuCommandLine.ToShell("qemu-system-x86_64", args)}");
            sw.Restart();
            using var q = QemuProcess.Start("qemu-system-x86_64", args, Path.Combine(dir, "qemu.log"));
            ok = await WaitForAsync(launch.ConsoleLogPath, $"FABRIC-GUEST-READY {spec.Name}", q.Exited, TimeSpan.FromMinutes(3));
            sw.Stop();
            if (ok) byHand.Add(sw.Elapsed.TotalMilliseconds);
            q.Kill();
            await q.Exited;
            Console.WriteLine($"run {run}: fabric {fabric.LastOrDefault():0} ms, by hand {byHand.LastOrDefault():0} ms");
        }
        Console.WriteLine($"boot to FABRIC-GUEST-READY, {o.MemoryMiB} MiB, {o.Runs} runs each (A/B alternating):");
        Console.WriteLine($"  fabric VmRuntime : median {Median(fabric):0} ms  min {fabric.DefaultIfEmpty().Min():0}  max {fabric.DefaultIfEmpty().Max():0}");
        Console.WriteLine($"  QEMU by hand     : median {Median(byHand):0} ms  min {byHand.DefaultIfEmpty().Min():0}  max {byHand.DefaultIfEmpty().Max():0}");
        Console.WriteLine($"  fabric overhead  : {Median(fabric) - Median(byHand):0} ms (median difference)");
        return 0;
    }

    // ---- density ----

    private static async Task<int> DensityAsync(GuestImagePaths image, string work, Options o)
    {
        var none = new NoDisks();
        await using var runtime = Runtime(Path.Combine(work, "rt"), image, none, o.TbMiB);
        var booted = 0;
        string stopReason = $"reached the limit of {o.Max}";
        Console.WriteLine($"density: {o.MemoryMiB} MiB guests, TCG translation cache {(o.TbMiB is { } t ? $"{t} MiB" : "QEMU default")}, booted one after another, each waited for READY");
        Console.WriteLine(" n  boot_ms  host_avail_MiB  qemu_rss_total_MiB  load1");
        for (var i = 0; i < o.Max; i++)
        {
            var avail = MemAvailableMiB();
            if (avail < 1024) { stopReason = $"host memory available fell to {avail} MiB"; break; }
            var name = $"d{i}";
            var sw = Stopwatch.StartNew();
            var r = await runtime.StartAsync(Spec(name, o.MemoryMiB));
            if (!r.Ok) { stopReason = $"start failed: {r}"; break; }
            var vm = runtime.Find(name)!;
            var ok = await WaitForAsync(runtime.ConsoleLogPath(name), $"FABRIC-GUEST-READY {name}", vm.Terminated, TimeSpan.FromMinutes(3));
            sw.Stop();
            if (!ok) { stopReason = $"guest {i + 1} did not boot within 3 minutes ({vm.State})"; break; }
            booted++;
            var rss = runtime.List().Sum(s => s.Pid is { } p ? RssMiB(p) : 0);
            Console.WriteLine($"{booted,2}  {sw.ElapsedMilliseconds,7}  {MemAvailableMiB(),14}  {rss,18}  {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            if (sw.Elapsed > TimeSpan.FromSeconds(120)) { stopReason = "boot time passed 120 s: CPU saturated"; break; }
        }
        // Are they all still alive and answering?
        var alive = 0;
        foreach (var s in runtime.List())
        {
            var vm = runtime.Find(s.Name);
            try { if (vm?.Qmp is { } q && (await q.QueryStatusAsync()).Running) alive++; } catch (QmpConnectionLostException) { }
        }
        Console.WriteLine($"result: {booted} guests of {o.MemoryMiB} MiB booted; {alive} running at the end; stopped because: {stopReason}");
        return 0;
    }

    private static long MemAvailableMiB() =>
        long.Parse(File.ReadAllLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;

    private static long RssMiB(int pid)
    {
        try
        {
            var line = File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    // ---- migrate ----

    private sealed record MigrationSample(long TotalMs, long DowntimeMs, long TransferredMiB, long WallMs, long SwitchoverMs = 0);

    private static string DirtyWorkload(int mib) =>
        mib == 0 ? "" :
        "mount -o remount,size=95% /tmp\n" +
        "dd if=/dev/urandom of=/tmp/chunk bs=1M count=1 2>/dev/null\n" +
        $"j=0; while [ $j -lt {mib} ]; do dd if=/tmp/chunk of=/tmp/x bs=1M seek=$j count=1 conv=notrunc 2>/dev/null; j=$((j+1)); done\n" +
        "echo DIRTY-FILLED\n" +
        $"while true; do j=0; while [ $j -lt {mib} ]; do dd if=/tmp/chunk of=/tmp/x bs=1M seek=$j count=1 conv=notrunc 2>/dev/null; j=$((j+1)); done; done\n";

    private static async Task<int> MigrateAsync(GuestImagePaths image, string work, Options o)
    {
        var memory = o.DirtyMiB == 0 ? o.MemoryMiB : Math.Max(o.MemoryMiB, o.DirtyMiB + 240);
        var marker = o.DirtyMiB == 0 ? "FABRIC-GUEST-READY" : "DIRTY-FILLED";
        var plain = new List<MigrationSample>();
        var fabric = new List<MigrationSample>();
        Console.WriteLine($"migrate: {memory} MiB guest, {(o.DirtyMiB == 0 ? "idle" : $"rewriting {o.DirtyMiB} MiB of memory in a loop")}, no bandwidth cap, downtime limit 300 ms");
        for (var run = 0; run < o.Runs; run++)
        {
            var p = await PlainOnceAsync(image, Path.Combine(work, $"p{run}"), memory, DirtyWorkload(o.DirtyMiB), marker);
            if (p is not null) plain.Add(p);
            var f = await FabricOnceAsync(image, Path.Combine(work, $"f{run}"), memory, DirtyWorkload(o.DirtyMiB), marker);
            if (f is not null) fabric.Add(f);
            Console.WriteLine($"run {run}: plain {Show(p)} | fabric {Show(f)}");
        }
        Console.WriteLine($"summary ({o.Runs} runs each, medians):");
        Console.WriteLine($"  plain QEMU over QMP : total {Median(plain.Select(s => (double)s.TotalMs)):0} ms, downtime {Median(plain.Select(s => (double)s.DowntimeMs)):0} ms, moved {Median(plain.Select(s => (double)s.TransferredMiB)):0} MiB, wall {Median(plain.Select(s => (double)s.WallMs)):0} ms");
        Console.WriteLine($"  fabric migration    : total {Median(fabric.Select(s => (double)s.TotalMs)):0} ms, downtime {Median(fabric.Select(s => (double)s.DowntimeMs)):0} ms, moved {Median(fabric.Select(s => (double)s.TransferredMiB)):0} MiB, wall {Median(fabric.Select(s => (double)s.WallMs)):0} ms");
        return 0;
    }

    private static string Show(MigrationSample? s) => s is null ? "failed" :
        $"total {s.TotalMs} ms, downtime {s.DowntimeMs} ms, {s.TransferredMiB} MiB, wall {s.WallMs} ms{(s.SwitchoverMs > 0 ? $" (switch-over step {s.SwitchoverMs} ms)" : "")}";

    /// <summary>Two QEMUs with the generated arguments, driven with the bare QMP sequence.</summary>
    private static async Task<MigrationSample?> PlainOnceAsync(GuestImagePaths image, string dir, int memoryMiB, string workload, string marker)
    {
        var spec = Spec("plain", memoryMiB, workload.Length == 0 ? null : workload);
        QemuLaunchSpec Launch(string side, bool incoming)
        {
            var d = Directory.CreateDirectory(Path.Combine(dir, side)).FullName;
            return new QemuLaunchSpec
            {
                Name = "plain", Vcpus = 1, MemoryBytes = spec.MemoryBytes, Kernel = image.Kernel, Initrd = image.Initrd, KernelCmdline = spec.Cmdline,
                QmpSocketPath = Path.Combine(d, "qmp.sock"), ConsoleLogPath = Path.Combine(d, "console.log"), PidFilePath = Path.Combine(d, "qemu.pid"),
                IncomingDefer = incoming,
            };
        }
        var src = Launch("src", false);
        var dst = Launch("dst", true);
        using var qs = QemuProcess.Start("qemu-system-x86_64", QemuCommandLine.Build(src), Path.Combine(dir, "src.log"));
        using var qd = QemuProcess.Start("qemu-system-x86_64", QemuCommandLine.Build(dst), Path.Combine(dir, "dst.log"));
        try
        {
            if (!await WaitForAsync(src.ConsoleLogPath, marker, qs.Exited, TimeSpan.FromMinutes(5))) return null;
            await using var s = await ConnectAsync(src.QmpSocketPath);
            await using var d = await ConnectAsync(dst.QmpSocketPath);
            var caps = new Dictionary<string, bool> { ["events"] = true };
            await d.MigrateSetCapabilitiesAsync(caps);
            await s.MigrateSetCapabilitiesAsync(caps);
            await s.MigrateSetParametersAsync(new Dictionary<string, object> { ["downtime-limit"] = 300L, ["max-bandwidth"] = 100L * 1024 * 1024 * 1024 });
            await d.MigrateIncomingAsync("tcp:127.0.0.1:0");
            var port = (await d.QueryMigrateAsync()).SocketAddresses[0].Port;
            var wall = Stopwatch.StartNew();
            await s.MigrateAsync($"tcp:127.0.0.1:{port}");
            QmpMigrationInfo info;
            while (true)
            {
                info = await s.QueryMigrateAsync();
                if (info.IsTerminal) break;
                await Task.Delay(20);
            }
            while (!(await d.QueryStatusAsync()).Running && wall.Elapsed < TimeSpan.FromMinutes(1)) await Task.Delay(5);
            wall.Stop();
            if (info.Status != "completed") return null;
            for (var i = 0; i < 40 && (info.TotalTimeMs == 0 || info.DowntimeMs is null or 0); i++)
            {
                await Task.Delay(25);
                info = await s.QueryMigrateAsync();
            }
            return new MigrationSample(info.TotalTimeMs, info.DowntimeMs ?? -1, info.RamTransferredBytes >> 20, wall.ElapsedMilliseconds);
        }
        finally
        {
            qs.Kill();
            qd.Kill();
            await Task.WhenAll(qs.Exited, qd.Exited);
        }
    }

    private static async Task<QmpClient> ConnectAsync(string path)
    {
        for (var i = 0; ; i++)
        {
            try { return await QmpClient.ConnectAsync(path); }
            catch (System.Net.Sockets.SocketException) when (i < 500) { await Task.Delay(20); }
        }
    }

    /// <summary>The same guest through VmRuntime on two "nodes" and the migration classes (switch-over hook included).</summary>
    private static async Task<MigrationSample?> FabricOnceAsync(GuestImagePaths image, string dir, int memoryMiB, string workload, string marker)
    {
        var none = new NoDisks();
        await using var a = Runtime(Path.Combine(dir, "a"), image, none);
        await using var b = Runtime(Path.Combine(dir, "b"), image, none);
        var spec = Spec("fab", memoryMiB, workload.Length == 0 ? null : workload);
        if (!(await a.StartAsync(spec)).Ok) return null;
        if (!await WaitForAsync(a.ConsoleLogPath("fab"), marker, a.Find("fab")!.Terminated, TimeSpan.FromMinutes(5))) return null;
        var (dest, r) = await b.PrepareIncomingAsync(spec, new IncomingMigrationOptions());
        if (!r.Ok) { Console.Error.WriteLine(r); return null; }
        var wall = Stopwatch.StartNew();
        var waitDest = dest!.WaitAsync(CancellationToken.None);
        var report = await a.MigrateOutAsync("fab", new MigrationRequest { Uri = dest.Uri, Takeover = (resume, ct) => dest.SwitchoverAsync(resume, ct) });
        var done = await waitDest;
        wall.Stop();
        if (!report.Ok || !done.Ok) { Console.Error.WriteLine($"fabric migration: {report} / {done}"); return null; }
        return new MigrationSample(report.TotalTimeMs, report.DowntimeMs ?? -1, report.TransferredBytes >> 20, wall.ElapsedMilliseconds, report.SwitchoverMs);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToList();
        if (v.Count == 0) return double.NaN;
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }
}
