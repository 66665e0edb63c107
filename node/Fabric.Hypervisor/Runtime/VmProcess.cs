using System.Diagnostics;
using System.Net.Sockets;
using Fabric.Core.Io;
using Fabric.Core.Net;
using Fabric.Core.Vm;
using Fabric.Hypervisor.Guest;
using Fabric.Hypervisor.Qemu;
using Fabric.Hypervisor.Qmp;
using Fabric.Proto;

namespace Fabric.Hypervisor.Runtime;

/// <summary>
/// One VM's QEMU on this node, from launch to cleanup. Created by <see cref="VmRuntime"/>.
///
/// Contract:
/// - Launch either ends with QEMU running (or waiting for an incoming migration) with every disk exported
///   and every NIC attached, or fails with everything it created removed again.
/// - Exactly one exit path: when QEMU ends for any reason the ports are detached, the exports removed,
///   the sockets and pid file deleted, and the final state decided once: Stopped when a stop was asked
///   for, the guest powered off, or the VM migrated away; Crashed otherwise.
/// - Lifecycle operations (stop, reboot, pause, resume, migrate) run one at a time.
///
/// Guest power-off vs. QEMU death: QEMU runs with -no-shutdown, so a guest power-off is a SHUTDOWN event
/// (guest=true) and QEMU stays; the monitor then quits it. A QEMU that ends without any of these is a crash.
/// </summary>
public sealed class VmProcess
{
    private readonly VmRuntime _runtime;
    private readonly VmRuntimeOptions _options;
    private readonly IVmDisks _disks;
    private readonly ISwitchPorts _ports;
    private readonly object _gate = new();
    private readonly SemaphoreSlim _op = new(1, 1);
    private readonly TaskCompletionSource<VmStateChange> _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<DiskExport> _exports = new();
    private readonly List<string> _attachedPorts = new();
    private QmpEventSubscription? _events;
    private volatile bool _stopRequested, _guestPoweredOff, _migratedAway, _rebootRequested;
    private volatile bool _incomingPending, _launchFailed;
    private string? _migratedTo;
    private TaskCompletionSource? _rebooted;
    private VmState _state = VmState.Starting;
    private string _reason = "starting";
    // Set once QEMU has ended and the final state is decided: later state changes (a stop that raced the exit)
    // are dropped, or they would publish "stopping" over "stopped" and nothing would ever correct it.
    private VmStateChange? _final;

    internal VmProcess(VmRuntime runtime, VmRuntimeOptions options, IVmDisks disks, ISwitchPorts ports, VmSpec spec,
        ulong generation, QemuAccel accel, bool incoming, int restarts)
    {
        _runtime = runtime;
        _options = options;
        _disks = disks;
        _ports = ports;
        Spec = spec;
        Generation = generation;
        Accel = accel;
        Incoming = incoming;
        _incomingPending = incoming;
        Restarts = restarts;
        RunDirectory = Path.Combine(options.RunDirectory, spec.Name);
    }

    public string Name => Spec.Name;
    public VmSpec Spec { get; }
    public ulong Generation { get; }
    public QemuAccel Accel { get; }
    /// <summary>Started as a migration destination (`-incoming defer`).</summary>
    public bool Incoming { get; }
    public int Restarts { get; }
    public string RunDirectory { get; }
    public string QmpSocketPath => Path.Combine(RunDirectory, "qmp.sock");
    public string ConsoleLogPath => Path.Combine(RunDirectory, "console.log");
    public string QemuLogPath => Path.Combine(RunDirectory, "qemu.log");
    public string PidFilePath => Path.Combine(RunDirectory, "qemu.pid");
    public string NicSocketPath(int index) => Path.Combine(RunDirectory, $"nic{index}.sock");
    public DateTimeOffset? StartedAt { get; private set; }
    /// <summary>The QMP connection while QEMU runs (for callers that need a command this class lacks).</summary>
    public QmpClient? Qmp { get; private set; }
    public QemuProcess? Qemu { get; private set; }
    /// <summary>Completes once QEMU has ended and everything is cleaned up, with the final state.</summary>
    public Task<VmStateChange> Terminated => _terminated.Task;
    public VmState State { get { lock (_gate) return _state; } }
    public string Reason { get { lock (_gate) return _reason; } }
    internal bool Migrating { get; set; }
    internal IReadOnlyList<DiskExport> Exports => _exports;
    internal IReadOnlyList<string> AttachedPorts => _attachedPorts;

    public VmStatus Status()
    {
        lock (_gate)
        {
            return new VmStatus(Name, _state, _reason, Qemu?.Pid, Accel.ToString().ToLowerInvariant(), RunDirectory, ConsoleLogPath,
                QmpSocketPath, Generation, StartedAt, Restarts);
        }
    }

    /// <summary>A disk export of this VM; <see cref="Locked"/> when this node holds (or should hold) the volume's lock.</summary>
    internal sealed class DiskExport(string exportId, string volume, bool lockable, bool locked)
    {
        public string ExportId { get; } = exportId;
        public string Volume { get; } = volume;
        /// <summary>Writable: its volume's exclusive lock belongs with the VM.</summary>
        public bool Lockable { get; } = lockable;
        public bool Locked { get; set; } = locked;
    }

    // ---- launch ----

    internal async Task<VmOperationResult> LaunchAsync(CancellationToken cancellationToken)
    {
        try
        {
            Directory.CreateDirectory(RunDirectory);
            foreach (var stale in Directory.EnumerateFiles(RunDirectory, "*.sock").Append(PidFilePath))
            {
                File.Delete(stale);
            }
            var qemuDisks = new List<QemuDisk>();
            for (var i = 0; i < Spec.Disks.Count; i++)
            {
                var d = Spec.Disks[i];
                var transport = d.Transport is "" or "vhost-user" ? "vhost-user" : "nbd";
                var exportId = $"{Name}-disk{i}-g{Generation}{(Incoming ? "-in" : "")}";
                var takeLock = !Incoming && !d.ReadOnly;
                // Checked when the VM was reserved (VmSpecCheck, before this process existed; Spec is its own clone).
                var cache = DiskCacheModes.FromCheckedText(d.Cache);
                var r = await _disks.ExportAsync(new DiskExportRequest(exportId, d.Volume, transport, d.ReadOnly, takeLock, Name, cache), cancellationToken)
                    .ConfigureAwait(false);
                if (r.Error is not null || r.SocketPath is null)
                {
                    return await FailLaunchAsync(VmErrorCode.ResourceFailed, $"disk {i} (volume '{d.Volume}'): {r.Error ?? "the block backend returned no socket"}").ConfigureAwait(false);
                }
                _exports.Add(new DiskExport(exportId, d.Volume, lockable: !d.ReadOnly, locked: takeLock));
                qemuDisks.Add(new QemuDisk(transport == "nbd" ? QemuDiskTransport.Nbd : QemuDiskTransport.VhostUser, r.SocketPath, r.NbdExportName, d.ReadOnly));
            }
            var nics = Spec.Nics.Select((n, i) => new QemuNic(NicSocketPath(i), string.IsNullOrEmpty(n.Mac) ? MacAddress.Derive(Name, i) : n.Mac)).ToList();
            var usesDefaultImage = !Spec.BootFromDisk && string.IsNullOrEmpty(Spec.Kernel);
            var launch = new QemuLaunchSpec
            {
                Name = Name,
                Vcpus = Math.Max(1u, Spec.Vcpus),
                MemoryBytes = Spec.MemoryBytes,
                Accel = Accel,
                TcgTranslationCacheMiB = _options.TcgTranslationCacheMiB,
                PreallocateMemory = _options.PreallocateMemory,
                Kernel = usesDefaultImage ? _options.DefaultGuestImage?.Kernel : NullIfEmpty(Spec.Kernel),
                Initrd = usesDefaultImage ? _options.DefaultGuestImage?.Initrd : NullIfEmpty(Spec.Initrd),
                KernelCmdline = string.IsNullOrEmpty(Spec.Cmdline) && usesDefaultImage ? GuestCmdline.Compose(Spec) : Spec.Cmdline,
                BootFromDisk = Spec.BootFromDisk,
                Disks = qemuDisks,
                Nics = nics,
                QmpSocketPath = QmpSocketPath,
                ConsoleLogPath = ConsoleLogPath,
                PidFilePath = PidFilePath,
                IncomingDefer = Incoming,
                // Also a migration destination: it runs the guest only after its takeover (locks, ports).
                StartPaused = true,
            };
            IReadOnlyList<string> args;
            try
            {
                args = QemuCommandLine.Build(launch);
            }
            catch (ArgumentException e)
            {
                return await FailLaunchAsync(VmErrorCode.InvalidSpec, $"VM '{Name}': {e.Message}").ConfigureAwait(false);
            }
            File.AppendAllText(QemuLogPath, $"# fabric: {_options.TimeProvider.GetUtcNow():O} {QemuCommandLine.ToShell(_options.QemuBinary, args)}\n");
            Qemu = QemuProcess.Start(_options.QemuBinary, args, QemuLogPath);
            _options.Log?.Invoke($"vm {Name}: qemu pid {Qemu.Pid} started ({(Incoming ? "incoming" : "boot")})");

            var connect = await ConnectQmpAsync(cancellationToken).ConfigureAwait(false);
            if (!connect.Ok) return await FailLaunchAsync(connect.Code, connect.Error!).ConfigureAwait(false);
            _events = Qmp!.Subscribe();
            _ = Task.Run(MonitorEventsAsync);
            _ = Task.Run(WatchExitAsync);

            for (var i = 0; i < Spec.Nics.Count; i++)
            {
                var n = Spec.Nics[i];
                var port = VmSpecCheck.PortName(Spec, i);
                var r = await _ports.AttachStreamPortAsync(new VmPortSpec(port, n.Network, nics[i].Mac, n.Ip ?? ""), nics[i].SocketPath, active: !Incoming, cancellationToken)
                    .ConfigureAwait(false);
                if (!r.Ok)
                {
                    return await FailLaunchAsync(VmErrorCode.ResourceFailed, $"NIC {i} (network '{n.Network}'): {r.Error}").ConfigureAwait(false);
                }
                _attachedPorts.Add(port);
            }
            if (!Incoming)
            {
                await Qmp.ContAsync(cancellationToken).ConfigureAwait(false);
                StartedAt = _options.TimeProvider.GetUtcNow();
                SetState(VmState.Running, "started", publish: false);
            }
            else
            {
                SetState(VmState.Migrating, "waiting for incoming migration", publish: false);
            }
            return VmOperationResult.Success;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return await FailLaunchAsync(VmErrorCode.Cancelled, $"start of VM '{Name}' was cancelled").ConfigureAwait(false);
        }
        catch (Exception e) when (e is QmpException or QmpConnectionLostException or TimeoutException or IOException or UnauthorizedAccessException or SocketException)
        {
            if (Qemu is not null)
            {
                // QEMU may have opened its QMP socket and then failed (a kernel it cannot load): its own
                // message is the useful one.
                try { await Qemu.Exited.WaitAsync(TimeSpan.FromSeconds(2), _options.TimeProvider).ConfigureAwait(false); }
                catch (TimeoutException) { }
                if (Qemu.HasExited)
                {
                    var exit = await Qemu.Exited.ConfigureAwait(false);
                    return await FailLaunchAsync(VmErrorCode.QemuFailed, $"QEMU of VM '{Name}' exited at start ({exit}): {LastLine(Qemu.LogTail())}").ConfigureAwait(false);
                }
            }
            var tail = Qemu is null ? "" : $" ({LastLine(Qemu.LogTail())})";
            return await FailLaunchAsync(VmErrorCode.QemuFailed, $"start of VM '{Name}' failed: {e.Message}{tail}").ConfigureAwait(false);
        }
    }

    private async Task<VmOperationResult> ConnectQmpAsync(CancellationToken cancellationToken)
    {
        var deadline = _options.TimeProvider.GetUtcNow() + _options.StartTimeout;
        while (true)
        {
            if (Qemu!.HasExited)
            {
                var exit = await Qemu.Exited.ConfigureAwait(false);
                return VmOperationResult.Fail(VmErrorCode.QemuFailed, $"QEMU of VM '{Name}' exited at start ({exit}): {LastLine(Qemu.LogTail())}");
            }
            if (File.Exists(QmpSocketPath))
            {
                try
                {
                    Qmp = await QmpClient.ConnectAsync(QmpSocketPath, _options.QmpCommandTimeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
                    return VmOperationResult.Success;
                }
                catch (SocketException)
                {
                    // Bound but not yet listening: try again.
                }
            }
            if (_options.TimeProvider.GetUtcNow() > deadline)
            {
                return VmOperationResult.Fail(VmErrorCode.Timeout, $"QEMU of VM '{Name}' did not answer QMP within {_options.StartTimeout.TotalSeconds:0} s");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(20), _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<VmOperationResult> FailLaunchAsync(VmErrorCode code, string error)
    {
        _options.Log?.Invoke($"vm {Name}: launch failed: {error}");
        _launchFailed = true;
        _stopRequested = true;
        if (Qemu is { HasExited: false })
        {
            Qemu.Kill();
        }
        if (Qemu is not null)
        {
            // The exit watcher (if it started) cleans up; otherwise do it here.
            await Qemu.Exited.ConfigureAwait(false);
        }
        await CleanupAsync().ConfigureAwait(false);
        Qemu?.Dispose();
        var change = new VmStateChange(Name, VmState.Stopped, error, _options.TimeProvider.GetUtcNow());
        _terminated.TrySetResult(change);
        return VmOperationResult.Fail(code, error);
    }

    // ---- events and exit ----

    private async Task MonitorEventsAsync()
    {
        var events = _events!;
        try
        {
            await foreach (var e in events.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                try
                {
                    await OnEventAsync(e).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is QmpException or QmpConnectionLostException or TimeoutException)
                {
                    _options.Log?.Invoke($"vm {Name}: handling {e.Name}: {ex.Message}");
                }
            }
        }
        catch (Exception ex)
        {
            Debug.Fail($"VM event monitor failed: {ex}");
        }
    }

    private async Task OnEventAsync(QmpEvent e)
    {
        switch (e.Name)
        {
            case "SHUTDOWN" when e.DataBool("guest") == true:
                if (_rebootRequested && _rebooted is { } rebooted)
                {
                    await Qmp!.SystemResetAsync().ConfigureAwait(false);
                    await Qmp.ContAsync().ConfigureAwait(false);
                    rebooted.TrySetResult();
                    return;
                }
                if (!_stopRequested) _guestPoweredOff = true;
                SetState(VmState.Stopping, _stopRequested ? "stopping: guest powered off" : "guest powered off");
                await Qmp!.QuitAsync().ConfigureAwait(false);
                return;
            case "STOP":
                lock (_gate)
                {
                    if (_state != VmState.Running || Migrating || _stopRequested || _guestPoweredOff || _rebootRequested) return;
                }
                SetState(VmState.Paused, "paused");
                return;
            case "RESUME":
                lock (_gate)
                {
                    if (_state != VmState.Paused || Migrating) return;
                }
                SetState(VmState.Running, "resumed");
                return;
            case "RESET" when e.DataBool("guest") == true:
                _options.Log?.Invoke($"vm {Name}: guest reset itself");
                return;
        }
    }

    private async Task WatchExitAsync()
    {
        var exit = await Qemu!.Exited.ConfigureAwait(false);
        await CleanupAsync().ConfigureAwait(false);
        if (_launchFailed) return; // the launch reports it
        VmState state;
        string reason;
        if (_migratedAway) { state = VmState.Stopped; reason = $"migrated to {_migratedTo}"; }
        else if (_stopRequested) { state = VmState.Stopped; reason = "stopped"; }
        else if (_guestPoweredOff) { state = VmState.Stopped; reason = "guest powered off"; }
        else if (_incomingPending) { state = VmState.Stopped; reason = $"incoming migration ended ({exit}): {LastLine(Qemu.LogTail())}"; }
        else if (Migrating) { state = VmState.Crashed; reason = $"QEMU died during an outgoing migration ({exit}): the destination may own the VM now"; }
        else { state = VmState.Crashed; reason = $"QEMU ended unexpectedly ({exit}): {LastLine(Qemu.LogTail())}"; }
        _options.Log?.Invoke($"vm {Name}: qemu ended ({exit}): {state} ({reason})");
        var change = SetState(state, reason, publish: false, exit, _migratedAway, final: true);
        Qemu.Dispose();
        // In this order: the name is free before anyone awaiting Terminated looks (a migration's caller checks
        // that the destination holds no VM); the final state is published after Terminated completes, so that
        // whoever reacts to it (the node stops a VM it no longer wants) finds the VM terminated; and before
        // OnTerminated, which may publish a restart's changes. An incoming VM that never took over is not this
        // node's to report.
        _runtime.Release(Name, this);
        _terminated.TrySetResult(change);
        if (!_incomingPending) _runtime.Publish(change);
        _runtime.OnTerminated(this, change);
    }

    private int _cleanedUp;

    /// <summary>Detaches ports, removes exports, deletes sockets: once, whoever gets here first.</summary>
    private async Task CleanupAsync()
    {
        if (Interlocked.Exchange(ref _cleanedUp, 1) == 1) return;
        var q = Qmp;
        if (q is not null) await q.DisposeAsync().ConfigureAwait(false);
        _events?.Dispose();
        foreach (var port in _attachedPorts)
        {
            try { await _ports.DetachPortAsync(port, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) { _options.Log?.Invoke($"vm {Name}: detaching port {port}: {e.Message}"); }
        }
        foreach (var export in _exports)
        {
            try { await _disks.RemoveAsync(export.ExportId, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) { _options.Log?.Invoke($"vm {Name}: removing export {export.ExportId}: {e.Message}"); }
        }
        try
        {
            if (Directory.Exists(RunDirectory))
            {
                foreach (var f in Directory.EnumerateFiles(RunDirectory, "*.sock")) File.Delete(f);
                File.Delete(PidFilePath);
            }
        }
        catch (IOException e)
        {
            _options.Log?.Invoke($"vm {Name}: cleaning {RunDirectory}: {e.Message}");
        }
    }

    internal VmStateChange SetState(VmState state, string reason, bool publish = true, QemuExit? exit = null, bool migratedAway = false,
        bool final = false)
    {
        VmStateChange change;
        lock (_gate)
        {
            if (_final is { } decided) return decided;
            _state = state;
            _reason = reason;
            change = new VmStateChange(Name, state, reason, _options.TimeProvider.GetUtcNow(), exit, migratedAway);
            if (final) _final = change;
            // Under the gate (the channel write never blocks), so that changes leave in the order they were made.
            if (publish) _runtime.Publish(change);
        }
        return change;
    }

    /// <summary>Publishes the current state (the launch's outcome), unless the final state was decided meanwhile:
    /// the exit path publishes that one, and nothing may follow it.</summary>
    internal void PublishCurrent()
    {
        lock (_gate)
        {
            if (_final is not null) return;
            _runtime.Publish(new VmStateChange(Name, _state, _reason, _options.TimeProvider.GetUtcNow()));
        }
    }

    // ---- lifecycle ----

    internal async Task<VmOperationResult> StopAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await _op.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Terminated.IsCompleted) return VmOperationResult.Success;
            if (Qemu is { HasExited: true })
            {
                // QEMU already ended (the guest powered off): the exit path decides the final state and cleans up.
                await Terminated.WaitAsync(cancellationToken).ConfigureAwait(false);
                return VmOperationResult.Success;
            }
            _stopRequested = true;
            SetState(VmState.Stopping, "stop requested");
            try
            {
                await Qmp!.SystemPowerdownAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is QmpException or QmpConnectionLostException or TimeoutException)
            {
                _options.Log?.Invoke($"vm {Name}: system_powerdown: {e.Message}");
            }
            if (await WaitTerminatedAsync(timeout, cancellationToken).ConfigureAwait(false)) return VmOperationResult.Success;
            _options.Log?.Invoke($"vm {Name}: guest did not power off within {timeout.TotalSeconds:0.#} s: forcing");
            SetState(VmState.Stopping, "forced stop: the guest did not power off in time");
            await ForceQuitAsync(cancellationToken).ConfigureAwait(false);
            return VmOperationResult.Success;
        }
        finally
        {
            _op.Release();
        }
    }

    /// <summary>`quit`, then SIGKILL after the grace; returns when everything is cleaned up.</summary>
    internal async Task ForceQuitAsync(CancellationToken cancellationToken)
    {
        _stopRequested = true;
        try
        {
            if (Qmp is { IsConnected: true } q) await q.ExecuteAsync("quit", null, _options.QuitGrace, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QmpException or QmpConnectionLostException or TimeoutException)
        {
        }
        if (await WaitTerminatedAsync(_options.QuitGrace, cancellationToken).ConfigureAwait(false)) return;
        Qemu?.Kill();
        await Terminated.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> WaitTerminatedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await Terminated.WaitAsync(timeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    internal async Task<VmOperationResult> RebootAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await _op.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = State;
            if (state is not (VmState.Running or VmState.Paused) || Qmp is null)
            {
                return VmOperationResult.Fail(VmErrorCode.InvalidState, $"VM '{Name}' is {Describe(state)}: only a running or paused VM reboots");
            }
            try
            {
                if (state == VmState.Running)
                {
                    // Graceful: the guest powers off on the ACPI button, and the SHUTDOWN handler resets it.
                    _rebooted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _rebootRequested = true;
                    await Qmp.SystemPowerdownAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        await _rebooted.Task.WaitAsync(timeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
                        SetState(VmState.Running, "rebooted");
                        return VmOperationResult.Success;
                    }
                    catch (TimeoutException)
                    {
                        _options.Log?.Invoke($"vm {Name}: guest did not power off for the reboot within {timeout.TotalSeconds:0.#} s: resetting");
                    }
                }
                await Qmp.SystemResetAsync(cancellationToken).ConfigureAwait(false);
                var status = await Qmp.QueryStatusAsync(cancellationToken).ConfigureAwait(false);
                if (!status.Running) await Qmp.ContAsync(cancellationToken).ConfigureAwait(false);
                SetState(VmState.Running, "rebooted (reset)");
                return VmOperationResult.Success;
            }
            catch (Exception e) when (e is QmpException or QmpConnectionLostException or TimeoutException)
            {
                return VmOperationResult.Fail(VmErrorCode.QemuFailed, $"reboot of VM '{Name}' failed: {e.Message}");
            }
            finally
            {
                _rebootRequested = false;
                _rebooted = null;
            }
        }
        finally
        {
            _op.Release();
        }
    }

    internal async Task<VmOperationResult> PauseAsync(bool pause, CancellationToken cancellationToken)
    {
        await _op.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = State;
            var from = pause ? VmState.Running : VmState.Paused;
            if (state == (pause ? VmState.Paused : VmState.Running)) return VmOperationResult.Success;
            if (state != from || Qmp is null)
            {
                return VmOperationResult.Fail(VmErrorCode.InvalidState, $"VM '{Name}' is {Describe(state)}: cannot {(pause ? "pause" : "resume")} it");
            }
            try
            {
                if (pause) await Qmp.StopAsync(cancellationToken).ConfigureAwait(false);
                else await Qmp.ContAsync(cancellationToken).ConfigureAwait(false);
                SetState(pause ? VmState.Paused : VmState.Running, pause ? "paused" : "resumed");
                return VmOperationResult.Success;
            }
            catch (Exception e) when (e is QmpException or QmpConnectionLostException or TimeoutException)
            {
                return VmOperationResult.Fail(VmErrorCode.QemuFailed, $"{(pause ? "pause" : "resume")} of VM '{Name}' failed: {e.Message}");
            }
        }
        finally
        {
            _op.Release();
        }
    }

    /// <summary>Runs <paramref name="work"/> as this VM's one lifecycle operation (migration).</summary>
    internal async Task<T> ExclusiveAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        await _op.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            _op.Release();
        }
    }

    /// <summary>The VM now runs elsewhere: this QEMU's exit is a clean stop, reported as migrated.</summary>
    internal void MarkMigratedAway(string destination)
    {
        _migratedTo = destination;
        _migratedAway = true;
    }

    /// <summary>An incoming migration completed: from now on this is the VM's QEMU.</summary>
    internal void MarkIncomingCompleted(bool running)
    {
        _incomingPending = false;
        StartedAt = _options.TimeProvider.GetUtcNow();
        SetState(running ? VmState.Running : VmState.Paused, "migrated in");
    }

    internal static string Describe(VmState s) => s.ToString().Replace("VM_STATE_", "", StringComparison.Ordinal).ToLowerInvariant();
    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
    private static string LastLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var useful = lines.LastOrDefault(l => !l.StartsWith("# fabric:", StringComparison.Ordinal));
        return useful ?? "no output";
    }
}
