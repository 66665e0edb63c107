using System.Collections.Concurrent;
using Fabric.Hypervisor.Guest;
using Fabric.Hypervisor.Runtime;
using Fabric.Proto;

namespace Fabric.Hypervisor.Tests.Infra;

/// <summary>
/// One "node" for tests: a VmRuntime over a test block backend and a test switch, recording every state
/// change. Several harnesses may share one <see cref="TestVmDisks"/> (one lock table, like one cluster).
/// </summary>
public sealed class VmHarness : IAsyncDisposable
{
    /// <summary>Guests boot in 3-30 s under TCG on a busy 2-CPU machine: deadlines are generous.</summary>
    public static readonly TimeSpan BootDeadline = TimeSpan.FromMinutes(4);

    private readonly bool _ownsDisks;
    private readonly ConcurrentQueue<VmStateChange> _changes = new();
    private readonly SemaphoreSlim _changed = new(0);

    public VmHarness(GuestImagePaths image, TestDir dir, string nodeName, TestVmDisks? sharedDisks = null, Func<VmRuntimeOptions, VmRuntimeOptions>? tune = null)
    {
        _ownsDisks = sharedDisks is null;
        Disks = sharedDisks ?? new TestVmDisks(dir.Sub("volumes"), dir.Sub("exports"));
        Switch = new TestSwitch();
        var options = new VmRuntimeOptions
        {
            RunDirectory = dir.Sub(nodeName),
            DefaultGuestImage = image,
            DefaultStopTimeout = TimeSpan.FromSeconds(60),
            RestartDelay = TimeSpan.FromMilliseconds(100),
            Log = Log.Enqueue,
        };
        Runtime = new VmRuntime(tune is null ? options : tune(options), Disks, Switch);
        Runtime.StateChanged += c =>
        {
            _changes.Enqueue(c);
            _changed.Release();
        };
    }

    public TestVmDisks Disks { get; }
    public TestSwitch Switch { get; }
    public VmRuntime Runtime { get; }
    public ConcurrentQueue<string> Log { get; } = new();
    public IReadOnlyList<VmStateChange> Changes => _changes.ToList();

    /// <summary>Waits for a published change of <paramref name="name"/> matching <paramref name="match"/>
    /// (including ones already seen after index <paramref name="after"/>).</summary>
    public async Task<VmStateChange> WaitForChangeAsync(string name, Func<VmStateChange, bool> match, TimeSpan timeout, int after = 0)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var hit = _changes.Skip(after).FirstOrDefault(c => c.Name == name && match(c));
            if (hit is not null) return hit;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"no matching state change of {name} within {timeout}; seen: " +
                    string.Join(" | ", _changes.Where(c => c.Name == name).Select(c => $"{c.State} ({c.Reason})")) +
                    "\nlog: " + string.Join("\n", Log.TakeLast(20)));
            }
            await _changed.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
        }
    }

    public Task<VmStateChange> WaitForStateAsync(string name, VmState state, TimeSpan timeout, int after = 0) =>
        WaitForChangeAsync(name, c => c.State == state, timeout, after);

    /// <summary>Waits for <paramref name="text"/> on the VM's console from byte <paramref name="from"/>; fails with the console's tail.</summary>
    public async Task<long> WaitForConsoleAsync(string name, string text, long from = 0, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? BootDeadline);
        try
        {
            var at = await ConsoleLog.WaitForAsync(Runtime.ConsoleLogPath(name), text, from, null, cts.Token);
            return at;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"'{text}' did not appear on the console of {name}; console tail:\n{Console(name)[^Math.Min(Console(name).Length, 3000)..]}");
        }
    }

    public string Console(string name) => File.Exists(Runtime.ConsoleLogPath(name)) ? File.ReadAllText(Runtime.ConsoleLogPath(name)) : "";

    public static VmSpec Spec(string name, int memoryMiB = 128, string? workload = null, bool powerOff = false, string? extra = null,
        IEnumerable<VmDisk>? disks = null, IEnumerable<VmNic>? nics = null)
    {
        var spec = new VmSpec { Name = name, Vcpus = 1, MemoryBytes = (ulong)memoryMiB << 20, Accel = "tcg" };
        if (disks is not null) spec.Disks.AddRange(disks);
        if (nics is not null) spec.Nics.AddRange(nics);
        spec.Cmdline = GuestCmdline.Compose(spec, new GuestCmdlineOptions { Workload = workload, PowerOffWhenDone = powerOff, Extra = extra });
        return spec;
    }

    public async ValueTask DisposeAsync()
    {
        await Runtime.DisposeAsync();
        await Switch.DisposeAsync();
        if (_ownsDisks) await Disks.DisposeAsync();
    }
}
