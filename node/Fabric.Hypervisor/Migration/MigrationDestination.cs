using Fabric.Core.Net;
using Fabric.Core.Vm;
using Fabric.Hypervisor.Qmp;
using Fabric.Hypervisor.Runtime;
using Fabric.Proto;

namespace Fabric.Hypervisor.Migration;

/// <summary>
/// The destination side of a live migration (see <see cref="MigrationSource"/> for the whole sequence).
///
/// Lifecycle: <see cref="PrepareAsync"/> (exports without locks, NIC ports inactive, QEMU `-incoming defer`,
/// migrate-incoming; <see cref="Uri"/> tells the source where to send) → during the source's switch-over
/// <see cref="SwitchoverAsync"/> (take the locks, activate the ports) → <see cref="WaitAsync"/> until QEMU
/// reports completed and runs the guest; from then on the VM is an ordinary VM of this node's runtime.
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

    /// <summary>Takes the volume locks and activates the NIC ports. On failure releases what it took.</summary>
    /// <returns>null on success, else the reason.</returns>
    public async Task<string?> SwitchoverAsync(CancellationToken cancellationToken)
    {
        foreach (var export in Vm.Exports.Where(x => x.Lockable && !x.Locked))
        {
            var error = await _disks.AcquireLockAsync(export.ExportId, cancellationToken).ConfigureAwait(false);
            if (error is not null)
            {
                await ReleaseSwitchoverAsync(cancellationToken).ConfigureAwait(false);
                return $"taking the lock of volume '{export.Volume}' failed: {error}";
            }
            export.Locked = true;
            _acquired.Add(export);
        }
        foreach (var port in Vm.AttachedPorts)
        {
            await _ports.ActivatePortAsync(port, cancellationToken).ConfigureAwait(false);
        }
        return null;
    }

    /// <summary>Gives the locks taken by <see cref="SwitchoverAsync"/> back (the migration failed after it).</summary>
    public async Task ReleaseSwitchoverAsync(CancellationToken cancellationToken)
    {
        foreach (var export in _acquired)
        {
            await _disks.FlushAndReleaseAsync(export.ExportId, cancellationToken).ConfigureAwait(false);
            export.Locked = false;
        }
        _acquired.Clear();
    }

    /// <summary>Waits until the guest runs here (completed) or the incoming QEMU gave up.</summary>
    public async Task<VmOperationResult> WaitAsync(CancellationToken cancellationToken)
    {
        var qmp = Vm.Qmp!;
        try
        {
            while (true)
            {
                // The status is the truth; events only wake us early.
                var info = await qmp.QueryMigrateAsync(cancellationToken).ConfigureAwait(false);
                if (info.Status == "completed") break;
                if (info.Status is "failed" or "cancelled")
                {
                    return VmOperationResult.Fail(VmErrorCode.QemuFailed, $"incoming migration {info.Status}: {info.ErrorDescription}");
                }
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wake.CancelAfter(TimeSpan.FromMilliseconds(250));
                try
                {
                    if (!await _events.Reader.WaitToReadAsync(wake.Token).ConfigureAwait(false)) break;
                    while (_events.Reader.TryRead(out _)) { }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
            // After completed QEMU starts the guest if it ran on the source; wait for the run state to settle.
            for (var i = 0; ; i++)
            {
                var s = await qmp.QueryStatusAsync(cancellationToken).ConfigureAwait(false);
                if (s.Running || s.Status == "paused" || i >= 200)
                {
                    Vm.MarkIncomingCompleted(s.Running);
                    _events.Dispose();
                    return VmOperationResult.Success;
                }
                await Task.Delay(25, cancellationToken).ConfigureAwait(false);
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
        await ReleaseSwitchoverAsync(cancellationToken).ConfigureAwait(false);
        _events.Dispose();
        await Vm.ForceQuitAsync(cancellationToken).ConfigureAwait(false);
    }
}
