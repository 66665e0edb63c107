using System.Threading.Channels;
using Fabric.Core.Net;
using Fabric.Core.Vm;
using Fabric.Hypervisor.Migration;
using Fabric.Hypervisor.Qemu;
using Fabric.Proto;

namespace Fabric.Hypervisor.Runtime;

/// <summary>
/// The VMs of one node: one QEMU each, started, stopped and migrated on the node's behalf.
///
/// Contract:
/// - A VM name is live here at most once (running, paused, starting, stopping or migrating).
/// - Every operation returns a <see cref="VmOperationResult"/>; refusals leave nothing behind.
/// - Every state change is published once, in order, on <see cref="StateChanged"/> (handlers run on a
///   dedicated dispatcher, so they may call back into the runtime).
/// - A VM whose QEMU dies without being asked is reported Crashed, and restarted when its spec says
///   restart = "on-crash" and the restart budget and <see cref="VmRuntimeOptions.RestartDecider"/> allow.
/// - The console log of a VM stays after it stops (until <see cref="DeleteAsync"/>).
/// </summary>
public sealed class VmRuntime : IAsyncDisposable
{
    private readonly VmRuntimeOptions _options;
    private readonly IVmDisks _disks;
    private readonly ISwitchPorts _ports;
    private readonly Dictionary<string, VmProcess?> _vms = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<DateTimeOffset>> _restarts = new(StringComparer.Ordinal);
    private readonly Channel<VmStateChange> _changes = Channel.CreateUnbounded<VmStateChange>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _dispatcher;
    private readonly CancellationTokenSource _disposing = new();

    public VmRuntime(VmRuntimeOptions options, IVmDisks disks, ISwitchPorts ports)
    {
        _options = options;
        _disks = disks;
        _ports = ports;
        Directory.CreateDirectory(options.RunDirectory);
        _dispatcher = Task.Run(DispatchAsync);
    }

    public VmRuntimeOptions Options => _options;
    internal IVmDisks Disks => _disks;
    internal ISwitchPorts Ports => _ports;

    /// <summary>State changes of this node's VMs, in order.</summary>
    public event Action<VmStateChange>? StateChanged;

    // ---- queries ----

    public VmStatus? GetStatus(string name)
    {
        lock (_vms) return _vms.GetValueOrDefault(name)?.Status();
    }

    public IReadOnlyList<VmStatus> List()
    {
        lock (_vms) return _vms.Values.Where(v => v is not null).Select(v => v!.Status()).OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The live VM of that name (for its QMP connection, its paths), or null.</summary>
    public VmProcess? Find(string name)
    {
        lock (_vms) return _vms.GetValueOrDefault(name);
    }

    /// <summary>Where the VM's console log is (whether or not it runs now).</summary>
    public string ConsoleLogPath(string name) => Path.Combine(_options.RunDirectory, name, "console.log");

    public (string Text, long NextOffset) ReadConsole(string name, long offset, int maxBytes = 64 * 1024) =>
        ConsoleLog.Read(ConsoleLogPath(name), offset, maxBytes);

    /// <summary>The console as it grows (`fabric vm console VM --follow`), until cancelled.</summary>
    public IAsyncEnumerable<string> FollowConsoleAsync(string name, long offset, CancellationToken cancellationToken) =>
        ConsoleLog.FollowAsync(ConsoleLogPath(name), offset, TimeSpan.FromMilliseconds(200), _options.TimeProvider, cancellationToken);

    // ---- lifecycle ----

    /// <summary>Starts a VM: exports its disks (taking their locks), starts QEMU paused, attaches its NICs,
    /// then runs it. Returns when QEMU runs the guest (not when the guest has booted).</summary>
    public Task<VmOperationResult> StartAsync(VmSpec spec, VmStartOptions? options = null, CancellationToken cancellationToken = default) =>
        StartCoreAsync(spec, options?.Generation ?? 0, restarts: 0, cancellationToken);

    private async Task<VmOperationResult> StartCoreAsync(VmSpec spec, ulong generation, int restarts, CancellationToken cancellationToken)
    {
        var (vm, refusal) = await ReserveAsync(spec, generation, incoming: false, restarts, cancellationToken).ConfigureAwait(false);
        if (vm is null) return refusal;
        Publish(new VmStateChange(spec.Name, VmState.Starting, "starting", _options.TimeProvider.GetUtcNow()));
        var r = await vm.LaunchAsync(cancellationToken).ConfigureAwait(false);
        if (!r.Ok)
        {
            Release(spec.Name, vm);
            Publish(new VmStateChange(spec.Name, VmState.Stopped, r.Error!, _options.TimeProvider.GetUtcNow()));
            return r;
        }
        vm.PublishCurrent();
        return r;
    }

    /// <summary>Checks the spec, resolves the accelerator and claims the name; (null, refusal) when not possible.</summary>
    internal async Task<(VmProcess? Vm, VmOperationResult Refusal)> ReserveAsync(VmSpec spec, ulong generation, bool incoming, int restarts, CancellationToken cancellationToken)
    {
        var invalid = VmSpecCheck.Validate(spec, _options);
        if (invalid is not null) return (null, VmOperationResult.Fail(VmErrorCode.InvalidSpec, invalid));
        lock (_vms)
        {
            if (_disposing.IsCancellationRequested) return (null, VmOperationResult.Fail(VmErrorCode.InvalidState, "the VM runtime is shutting down"));
            if (_vms.TryGetValue(spec.Name, out var existing))
            {
                var what = existing is null ? "being started" : VmProcess.Describe(existing.State);
                return (null, VmOperationResult.Fail(VmErrorCode.AlreadyExists, $"VM '{spec.Name}' is already {what} on this node"));
            }
            _vms[spec.Name] = null; // reserved while the accelerator is resolved
        }
        QemuAccel accel;
        try
        {
            accel = await AccelProbe.ResolveAsync(spec.Accel, _options.QemuBinary, _options.DefaultGuestImage, _options.AccelCacheFile,
                _options.AccelProbeTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ArgumentException or OperationCanceledException)
        {
            lock (_vms) _vms.Remove(spec.Name);
            return (null, VmOperationResult.Fail(e is ArgumentException ? VmErrorCode.InvalidSpec : VmErrorCode.Cancelled, e.Message));
        }
        var vm = new VmProcess(this, _options, _disks, _ports, spec.Clone(), generation, accel, incoming, restarts);
        lock (_vms) _vms[spec.Name] = vm;
        return (vm, VmOperationResult.Success);
    }

    internal void Release(string name, VmProcess vm)
    {
        lock (_vms)
        {
            if (_vms.TryGetValue(name, out var current) && ReferenceEquals(current, vm)) _vms.Remove(name);
        }
    }

    /// <summary>ACPI power-off; after <paramref name="timeout"/> (default: the spec's stop_timeout_ms, else
    /// the runtime's) `quit`, then SIGKILL. Returns when QEMU is gone and everything is cleaned up.</summary>
    public async Task<VmOperationResult> StopAsync(string name, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var vm = Find(name);
        if (vm is null) return VmOperationResult.Fail(VmErrorCode.NotFound, $"VM '{name}' is not running on this node");
        return await vm.StopAsync(timeout ?? StopTimeout(vm.Spec), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Graceful reboot (ACPI power-off, then reset instead of exit); a hard reset after the stop timeout.</summary>
    public async Task<VmOperationResult> RebootAsync(string name, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var vm = Find(name);
        if (vm is null) return VmOperationResult.Fail(VmErrorCode.NotFound, $"VM '{name}' is not running on this node");
        return await vm.RebootAsync(timeout ?? StopTimeout(vm.Spec), cancellationToken).ConfigureAwait(false);
    }

    public async Task<VmOperationResult> PauseAsync(string name, CancellationToken cancellationToken = default)
    {
        var vm = Find(name);
        if (vm is null) return VmOperationResult.Fail(VmErrorCode.NotFound, $"VM '{name}' is not running on this node");
        return await vm.PauseAsync(true, cancellationToken).ConfigureAwait(false);
    }

    public async Task<VmOperationResult> ResumeAsync(string name, CancellationToken cancellationToken = default)
    {
        var vm = Find(name);
        if (vm is null) return VmOperationResult.Fail(VmErrorCode.NotFound, $"VM '{name}' is not running on this node");
        return await vm.PauseAsync(false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops the VM if it runs here, then removes its run directory (console log included).</summary>
    public async Task<VmOperationResult> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        if (Find(name) is not null)
        {
            var r = await StopAsync(name, null, cancellationToken).ConfigureAwait(false);
            if (!r.Ok && r.Code != VmErrorCode.NotFound) return r;
        }
        lock (_vms) _restarts.Remove(name);
        var dir = Path.Combine(_options.RunDirectory, name);
        if (Directory.Exists(dir) && Find(name) is null) Directory.Delete(dir, recursive: true);
        return VmOperationResult.Success;
    }

    // ---- migration ----

    /// <summary>
    /// Destination side of a live migration: exports the disks without their locks, attaches the NICs
    /// inactive, starts QEMU with `-incoming defer` and listens on <paramref name="options"/>' address.
    /// The returned object carries the URI for the source and the switch-over and completion steps.
    /// </summary>
    public Task<(MigrationDestination? Destination, VmOperationResult Result)> PrepareIncomingAsync(VmSpec spec, IncomingMigrationOptions options,
        CancellationToken cancellationToken = default) =>
        MigrationDestination.PrepareAsync(this, spec, options, cancellationToken);

    /// <summary>
    /// Source side of a live migration of <paramref name="name"/> to a destination prepared with
    /// <see cref="PrepareIncomingAsync"/>. Cancelling <paramref name="cancellationToken"/> cancels the migration
    /// (the VM keeps running here). See <see cref="MigrationSource"/> for the sequence.
    /// </summary>
    public async Task<MigrationReport> MigrateOutAsync(string name, MigrationRequest request, IProgress<MigrationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var vm = Find(name);
        if (vm is null) return MigrationReport.Refused($"VM '{name}' is not running on this node");
        return await new MigrationSource(vm, _disks, _options, request, progress).RunAsync(cancellationToken).ConfigureAwait(false);
    }

    // ---- internals ----

    private TimeSpan StopTimeout(VmSpec spec) =>
        spec.StopTimeoutMs > 0 ? TimeSpan.FromMilliseconds(spec.StopTimeoutMs) : _options.DefaultStopTimeout;

    internal void Publish(VmStateChange change) => _changes.Writer.TryWrite(change);

    private async Task DispatchAsync()
    {
        await foreach (var change in _changes.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                StateChanged?.Invoke(change);
            }
            catch (Exception e)
            {
                _options.Log?.Invoke($"state change handler failed for {change.Name}: {e}");
            }
        }
    }

    /// <summary>Called once by a VM whose QEMU ended, was cleaned up and released its name.</summary>
    internal void OnTerminated(VmProcess vm, VmStateChange change)
    {
        // Never restart a VM that died while migrating out: the destination may be running it already
        // (the node decides from the destination's outcome).
        if (change.State == VmState.Crashed && vm.Spec.Restart == "on-crash" && !vm.Migrating && !_disposing.IsCancellationRequested)
        {
            _ = RestartAsync(vm, change);
        }
    }

    private async Task RestartAsync(VmProcess vm, VmStateChange crash)
    {
        var now = _options.TimeProvider.GetUtcNow();
        int count;
        lock (_vms)
        {
            if (!_restarts.TryGetValue(vm.Name, out var times)) _restarts[vm.Name] = times = new List<DateTimeOffset>();
            times.RemoveAll(t => now - t > _options.RestartWindow);
            if (times.Count >= _options.MaxRestarts)
            {
                _options.Log?.Invoke($"vm {vm.Name}: crashed {times.Count} times within {_options.RestartWindow}: not restarting");
                return;
            }
            times.Add(now);
            count = times.Count;
        }
        try
        {
            if (_options.RestartDecider is { } decide && !await decide(crash, _disposing.Token).ConfigureAwait(false)) return;
            await Task.Delay(_options.RestartDelay, _options.TimeProvider, _disposing.Token).ConfigureAwait(false);
            var r = await StartCoreAsync(vm.Spec, vm.Generation, vm.Restarts + 1, _disposing.Token).ConfigureAwait(false);
            _options.Log?.Invoke($"vm {vm.Name}: restart {count} after crash: {r}");
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Forces every VM of this runtime off (`quit`, then SIGKILL) and stops publishing. For node
    /// shutdown in tests; a production node would rather leave its VMs running.</summary>
    public async ValueTask DisposeAsync()
    {
        _disposing.Cancel();
        List<VmProcess> vms;
        lock (_vms) vms = _vms.Values.Where(v => v is not null).Select(v => v!).ToList();
        await Task.WhenAll(vms.Select(v => v.ForceQuitAsync(CancellationToken.None))).ConfigureAwait(false);
        _changes.Writer.TryComplete();
        await _dispatcher.ConfigureAwait(false);
    }
}
