using Fabric.Core.Net;
using Fabric.Core.Vm;
using Fabric.Hypervisor.Qmp;
using Fabric.Hypervisor.Runtime;
using Fabric.Proto;

namespace Fabric.Hypervisor.Migration;

/// <summary>
/// The destination side of a live migration (see <see cref="MigrationSource"/> for the whole sequence).
///
/// Lifecycle: <see cref="PrepareAsync"/> (exports without locks, NIC ports inactive, QEMU `-incoming defer`
/// and -S, migrate-incoming; <see cref="Uri"/> tells the source where to send) → once the source sent
/// migrate-continue, beside QEMU's final pass, <see cref="SwitchoverAsync"/> (take the locks, activate the
/// ports) → <see cref="WaitAsync"/> runs the guest (cont) once QEMU has its state and the takeover is done,
/// never before: the guest never runs here without the locks. From then on the VM is an ordinary VM of this
/// node's runtime.
/// <see cref="AbortAsync"/> at any point before completion removes everything (the source keeps the VM).
/// If the source dies or cancels, the incoming QEMU exits by itself and <see cref="WaitAsync"/> says so.
/// </summary>
public sealed class MigrationDestination
{
    private readonly VmRuntime _runtime;
    private readonly IVmDisks _disks;
    private readonly ISwitchPorts _ports;
    private readonly QmpEventSubscription _events;
    private readonly List<VmProcess.DiskExport> _acquired = new();
    // Completed by a successful takeover with "run the guest" (or not); cancelled when the copy is dropped.
    private readonly TaskCompletionSource<bool> _takeover = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _gate = new();
    private bool _resuming, _abandoned;

    private MigrationDestination(VmRuntime runtime, IVmDisks disks, ISwitchPorts ports, VmProcess vm, QmpEventSubscription events, string uri)
    {
        _runtime = runtime;
        _disks = disks;
        _ports = ports;
        Vm = vm;
        _events = events;
        Uri = uri;
    }

    /// <summary>The incoming VM (state Migrating until <see cref="WaitAsync"/> completes).</summary>
    public VmProcess Vm { get; }

    /// <summary>Where the source sends the migration stream ("tcp:HOST:PORT").</summary>
    public string Uri { get; }

    /// <summary>When the guest started running here, by QEMU's RESUME event (null until seen): the moment a
    /// "first packet after resume" is measured from.</summary>
    public DateTimeOffset? ResumedAt { get; private set; }

    private void Note(QmpEvent e)
    {
        if (e.Name == "RESUME") ResumedAt ??= e.Timestamp;
    }

    internal static async Task<(MigrationDestination?, VmOperationResult)> PrepareAsync(VmRuntime runtime, VmSpec spec, IncomingMigrationOptions options,
        CancellationToken cancellationToken)
    {
        var (vm, refusal) = await runtime.ReserveAsync(spec, options.Generation, incoming: true, restarts: 0, cancellationToken).ConfigureAwait(false);
        if (vm is null) return (null, refusal);
        var r = await vm.LaunchAsync(cancellationToken).ConfigureAwait(false);
        if (!r.Ok)
        {
            runtime.Release(spec.Name, vm);
            return (null, r);
        }
        var qmp = vm.Qmp!;
        var events = qmp.Subscribe();
        try
        {
            var caps = new Dictionary<string, bool> { ["events"] = true, ["postcopy-ram"] = options.Postcopy };
            await qmp.MigrateSetCapabilitiesAsync(caps, cancellationToken).ConfigureAwait(false);
            await qmp.MigrateIncomingAsync($"tcp:{options.ListenHost}:{options.Port}", cancellationToken).ConfigureAwait(false);
            var info = await qmp.QueryMigrateAsync(cancellationToken).ConfigureAwait(false);
            var port = info.SocketAddresses.FirstOrDefault(a => a.Type == "inet").Port;
            if (port == 0) port = options.Port;
            if (port == 0) throw new QmpException("query-migrate", "GenericError", "the destination reported no listening port");
            var host = options.AdvertiseHost ?? options.ListenHost;
            var uri = host.Contains(':', StringComparison.Ordinal) ? $"tcp:[{host}]:{port}" : $"tcp:{host}:{port}";
            return (new MigrationDestination(runtime, runtime.Disks, runtime.Ports, vm, events, uri), VmOperationResult.Success);
        }
        catch (Exception e) when (e is QmpException or QmpConnectionLostException or TimeoutException or OperationCanceledException)
        {
            events.Dispose();
            await vm.ForceQuitAsync(CancellationToken.None).ConfigureAwait(false);
            return (null, VmOperationResult.Fail(VmErrorCode.QemuFailed, $"preparing the incoming migration of VM '{spec.Name}' failed: {e.Message}"));
        }
    }

    /// <summary>Takes the volume locks and activates the NIC ports; then the guest may run here (when
    /// <paramref name="resume"/>: it ran on the source) as soon as QEMU has its whole state. On failure releases
    /// what it took.</summary>
    /// <returns>null on success, else the reason.</returns>
    public async Task<string?> SwitchoverAsync(bool resume, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_abandoned) return "the incoming migration was abandoned";
        }
        foreach (var export in Vm.Exports.Where(x => x.Lockable && !x.Locked))
        {
            var error = await _disks.AcquireLockAsync(export.ExportId, cancellationToken).ConfigureAwait(false);
            if (error is not null)
            {
                await ReleaseLocksAsync(cancellationToken).ConfigureAwait(false);
                return $"taking the lock of volume '{export.Volume}' failed: {error}";
            }
            export.Locked = true;
            _acquired.Add(export);
        }
        foreach (var port in Vm.AttachedPorts)
        {
            await _ports.ActivatePortAsync(port, cancellationToken).ConfigureAwait(false);
        }
        _takeover.TrySetResult(resume);
        return null;
    }

    /// <summary>
    /// Drops this copy's claim after a failed migration: gives the locks taken by <see cref="SwitchoverAsync"/>
    /// back and makes sure the guest never runs here. False when it is too late: the guest already runs here
    /// (then this side keeps it and the source must not resume).
    /// </summary>
    public async Task<bool> ReleaseSwitchoverAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_resuming) return false;
            _abandoned = true;
        }
        _takeover.TrySetCanceled(CancellationToken.None);
        await ReleaseLocksAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task ReleaseLocksAsync(CancellationToken cancellationToken)
    {
        foreach (var export in _acquired)
        {
            await _disks.FlushAndReleaseAsync(export.ExportId, cancellationToken).ConfigureAwait(false);
            export.Locked = false;
        }
        _acquired.Clear();
    }

    /// <summary>Waits until QEMU has the guest's state and the takeover is done, runs the guest (when it ran on
    /// the source), and returns once it runs here; or until the incoming QEMU gave up or the copy was dropped.</summary>
    public async Task<VmOperationResult> WaitAsync(CancellationToken cancellationToken)
    {
        var qmp = Vm.Qmp!;
        try
        {
            var resumed = false;
            while (true)
            {
                // The status is the truth; events and the takeover only wake us early.
                var info = await qmp.QueryMigrateAsync(cancellationToken).ConfigureAwait(false);
                if (info.Status is "failed" or "cancelled")
                {
                    return VmOperationResult.Fail(VmErrorCode.QemuFailed, $"incoming migration {info.Status}: {info.ErrorDescription}");
                }
                bool abandoned;
                lock (_gate) abandoned = _abandoned;
                if (abandoned)
                {
                    // This copy never ran and never will: remove it (its exports and ports go with it).
                    await Vm.ForceQuitAsync(CancellationToken.None).ConfigureAwait(false);
                    return VmOperationResult.Fail(VmErrorCode.QemuFailed, "incoming migration abandoned: the source keeps the VM");
                }
                var loaded = info.Status == "completed";
                if (!resumed && _takeover.Task.IsCompletedSuccessfully && (loaded || info.Status == "postcopy-active"))
                {
                    // -S: QEMU leaves the loaded guest paused (in post-copy once the device state is in, while
                    // pages still arrive); "inmigrate" means not loaded yet.
                    var s = await qmp.QueryStatusAsync(cancellationToken).ConfigureAwait(false);
                    if (s.Status != "inmigrate")
                    {
                        if (_takeover.Task.Result)
                        {
                            lock (_gate)
                            {
                                if (_abandoned) continue;
                                _resuming = true;
                            }
                            if (!s.Running) await qmp.ContAsync(cancellationToken).ConfigureAwait(false);
                        }
                        resumed = true;
                    }
                }
                if (loaded && resumed) break;
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                // Polled fast only while a loaded post-copy guest waits for its run state to settle.
                wake.CancelAfter(TimeSpan.FromMilliseconds(!resumed && _takeover.Task.IsCompleted && info.Status == "postcopy-active" ? 10 : 250));
                try
                {
                    var woke = _events.Reader.WaitToReadAsync(wake.Token).AsTask();
                    if (!_takeover.Task.IsCompleted) await Task.WhenAny(woke, _takeover.Task).ConfigureAwait(false);
                    // A closed event stream means AbortAsync ran (or QMP went away): the checks above decide,
                    // never the success path below.
                    if (woke.IsCompleted && !await woke.ConfigureAwait(false))
                    {
                        await Task.Delay(10, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    while (_events.Reader.TryRead(out var e)) Note(e);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
            // Wait for the run state to settle (QEMU answers cont before the guest is marked running).
            for (var i = 0; ; i++)
            {
                var s = await qmp.QueryStatusAsync(cancellationToken).ConfigureAwait(false);
                lock (_gate)
                {
                    if (_abandoned && !_resuming)
                    {
                        return VmOperationResult.Fail(VmErrorCode.QemuFailed, "incoming migration abandoned: the source keeps the VM");
                    }
                }
                if (s.Running || s.Status == "paused" || i >= 200)
                {
                    // QEMU sends RESUME before it answers a query-status that says running.
                    while (_events.Reader.TryRead(out var e)) Note(e);
                    Vm.MarkIncomingCompleted(s.Running);
                    _events.Dispose();
                    return VmOperationResult.Success;
                }
                await Task.Delay(5, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is QmpConnectionLostException or TimeoutException or QmpException)
        {
            // QEMU -incoming exits when the stream breaks (source cancelled or died): wait for its cleanup.
            var end = await Vm.Terminated.WaitAsync(cancellationToken).ConfigureAwait(false);
            return VmOperationResult.Fail(VmErrorCode.QemuFailed, $"incoming migration ended: {end.Reason}");
        }
        finally
        {
            if (Vm.State != VmState.Running && Vm.State != VmState.Paused) _events.Dispose();
        }
    }

    /// <summary>Removes the incoming VM (before completion): the source keeps running the guest.</summary>
    public async Task AbortAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate) _abandoned = true;
        _takeover.TrySetCanceled(CancellationToken.None);
        await ReleaseLocksAsync(cancellationToken).ConfigureAwait(false);
        _events.Dispose();
        await Vm.ForceQuitAsync(cancellationToken).ConfigureAwait(false);
    }
}
