using System.Diagnostics;
using Fabric.Core.Vm;
using Fabric.Hypervisor.Qmp;
using Fabric.Hypervisor.Runtime;
using Fabric.Proto;

namespace Fabric.Hypervisor.Migration;

/// <summary>
/// The source side of a live migration, one run per instance.
///
///   node (lead)            source (this)                  source QEMU            destination
///       |  MigrateOutAsync -->|                                |                       | (prepared: -incoming defer,
///       |                     | caps: events, pause-before-    |                       |  migrate-incoming, ports
///       |                     |   switchover[, auto-converge,  |                       |  inactive, no locks)
///       |                     |   postcopy-ram]; params        |                       |
///       |                     | migrate {uri} ---------------->| ==== RAM passes =====>|
///       |  &lt;-- progress ------| query-migrate (every interval) |                       |
///       |                     | &lt;-- MIGRATION pre-switchover --| (guest stopped)       |
///       |                     | FlushAndRelease (every lock)   |                       |
///       |  &lt;-- Switchover hook: map moves VM + ports |             |                       |
///       |                     | migrate-continue ------------->| == device state =====>| (started -S: stays paused)
///       |  &lt;-- Takeover hook (beside the final pass): destination AcquireLock + ActivatePort ->|
///       |                     | &lt;-- MIGRATION completed -------|                       | cont once both are done
///       |                     | quit; exports removed, ports detached                  |
///       |  &lt;-- report --------| (total time, downtime: re-queried until QEMU fills them)
///
/// Every failure leaves exactly one running copy: before migrate-continue the guest resumes here
/// (cancel, switch-over hook error, destination death), with the locks taken back; after the switch-over
/// a failure (destination death, a failed takeover) runs <see cref="MigrationRequest.SwitchBack"/> first,
/// and the guest resumes here even from QEMU's completed state, unless the destination already runs it.
/// Once QEMU says completed and the takeover succeeded, the destination owns the VM, whatever happens here.
/// </summary>
public sealed class MigrationSource
{
    /// <summary>"No cap": QEMU's max-bandwidth defaults to 128 MiB/s, which would dominate the total time.</summary>
    private const long UncappedBytesPerSecond = 100L * 1024 * 1024 * 1024;

    private readonly VmProcess _vm;
    private readonly IVmDisks _disks;
    private readonly VmRuntimeOptions _options;
    private readonly MigrationRequest _request;
    private readonly IProgress<MigrationProgress>? _progress;
    private readonly List<VmProcess.DiskExport> _released = new();
    private bool _switchedOver, _continued, _postcopyStarted, _ranHere;
    private long _switchoverMs;
    // The destination's takeover, running beside QEMU's final pass once migrate-continue was sent.
    private Task<string?>? _takeover;
    private DateTimeOffset? _takeoverDoneAt;
    private uint _downtimeLimitMs;
    // QEMU's own timestamps of the downtime's steps (event times; our clock for the continue reply).
    private DateTimeOffset? _stoppedAt, _pausedAt, _continuedAt, _completedAt;

    internal MigrationSource(VmProcess vm, IVmDisks disks, VmRuntimeOptions options, MigrationRequest request, IProgress<MigrationProgress>? progress)
    {
        _vm = vm;
        _disks = disks;
        _options = options;
        _request = request;
        _progress = progress;
    }

    public Task<MigrationReport> RunAsync(CancellationToken cancellationToken) =>
        _vm.ExclusiveAsync(() => RunExclusiveAsync(cancellationToken), CancellationToken.None);

    private async Task<MigrationReport> RunExclusiveAsync(CancellationToken cancellationToken)
    {
        var before = _vm.State;
        if (before is not (VmState.Running or VmState.Paused) || _vm.Qmp is not { IsConnected: true } qmp)
        {
            return MigrationReport.Refused($"VM '{_vm.Name}' is {VmProcess.Describe(before)}: only a running or paused VM migrates");
        }
        using var timeout = _request.Timeout is { } t ? new CancellationTokenSource(t, _options.TimeProvider) : new CancellationTokenSource();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var events = qmp.Subscribe();
        var clock = Stopwatch.StartNew();
        _ranHere = before == VmState.Running;
        // Post-copy gets the requested limit from the start, never the small first steps: QEMU 7.2 under TCG crashes
        // the guest on the destination of a post-copy migration whose downtime-limit is 25 ms in about 1 run in 3
        // (plain QEMU, no Fabric code: 7 of 28 at 25 ms, 0 of 110 at 300 ms; see the Hypervisor README).
        _downtimeLimitMs = _request.Postcopy
            ? _request.DowntimeLimitMs
            : DowntimeSteps.LimitFor(_request.DowntimeLimitMs, _request.InitialDowntimeLimitMs, 1);
        _vm.Migrating = true;
        _vm.SetState(VmState.Migrating, $"migrating to {Destination}");
        try
        {
            try
            {
                var caps = new Dictionary<string, bool>
                {
                    ["events"] = true,
                    ["pause-before-switchover"] = true,
                    ["auto-converge"] = _request.AutoConverge,
                    ["postcopy-ram"] = _request.Postcopy,
                };
                await qmp.MigrateSetCapabilitiesAsync(caps, CancellationToken.None).ConfigureAwait(false);
                var bandwidth = _request.BandwidthMiBps is { } mib ? (long)mib * 1024 * 1024 : UncappedBytesPerSecond;
                await qmp.MigrateSetParametersAsync(new Dictionary<string, object>
                {
                    ["downtime-limit"] = (long)_downtimeLimitMs,
                    ["max-bandwidth"] = bandwidth,
                }, CancellationToken.None).ConfigureAwait(false);
                await qmp.MigrateAsync(_request.Uri, CancellationToken.None).ConfigureAwait(false);
            }
            catch (QmpException e)
            {
                return await FinishFailedAsync(qmp, MigrationOutcome.Failed, $"QEMU refused the migration: {e.Description}", clock).ConfigureAwait(false);
            }

            var (outcome, error) = await FollowAsync(qmp, events, clock, cancel.Token, timeout.Token).ConfigureAwait(false);
            (outcome, error) = await SettleTakeoverAsync(outcome, error).ConfigureAwait(false);
            if (outcome == MigrationOutcome.Completed) return await FinishCompletedAsync(qmp, clock).ConfigureAwait(false);
            return await FinishFailedAsync(qmp, outcome, error, clock).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QmpConnectionLostException or TimeoutException or QmpException)
        {
            // A takeover in flight ends first: switching back must not race it.
            if (_takeover is not null) await SettleTakeoverAsync(MigrationOutcome.Failed, null).ConfigureAwait(false);
            return await FinishFailedAsync(qmp, qmp.IsConnected ? MigrationOutcome.Failed : MigrationOutcome.SourceDied, e.Message, clock).ConfigureAwait(false);
        }
    }

    /// <summary>QEMU is done: wait for the takeover too. A completed migration whose takeover failed fails.</summary>
    private async Task<(MigrationOutcome, string?)> SettleTakeoverAsync(MigrationOutcome outcome, string? error)
    {
        if (_takeover is null) return (outcome, error);
        string? takeoverError;
        try
        {
            takeoverError = await _takeover.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            takeoverError = $"the destination's takeover failed: {e.Message}";
        }
        if (takeoverError is null || outcome != MigrationOutcome.Completed) return (outcome, error ?? takeoverError);
        return (MigrationOutcome.Failed, takeoverError);
    }

    private string Destination => _request.DestinationName.Length > 0 ? _request.DestinationName : _request.Uri;

    /// <summary>Follows QEMU until a terminal status; runs the switch-over at pre-switchover.</summary>
    private async Task<(MigrationOutcome, string?)> FollowAsync(QmpClient qmp, QmpEventSubscription events, Stopwatch clock,
        CancellationToken cancel, CancellationToken timedOut)
    {
        var cancelSent = false;
        var nextSample = TimeSpan.Zero;
        while (true)
        {
            if (cancel.IsCancellationRequested && !cancelSent && !_continued)
            {
                cancelSent = true;
                await qmp.MigrateCancelAsync(CancellationToken.None).ConfigureAwait(false);
            }
            if (clock.Elapsed >= nextSample)
            {
                nextSample = clock.Elapsed + _request.ProgressInterval;
                var info = await qmp.QueryMigrateAsync(CancellationToken.None).ConfigureAwait(false);
                Report(info, clock);
                // Events can be missed by a slow reader (bounded queue): the status is the truth.
                if (info.IsTerminal) return Terminal(info, cancelSent, timedOut);
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancelSent ? CancellationToken.None : cancel);
            wait.CancelAfter(_request.ProgressInterval);
            QmpEvent? e = null;
            try
            {
                if (!await events.Reader.WaitToReadAsync(wait.Token).ConfigureAwait(false))
                {
                    return (MigrationOutcome.SourceDied, $"the source QEMU went away: {qmp.CloseReason}");
                }
                events.Reader.TryRead(out e);
            }
            catch (OperationCanceledException)
            {
                continue;
            }
            if (e is null) continue;
            if (e.Name == "STOP" && !_continued) _stoppedAt = e.Timestamp;
            if (e.Name == "MIGRATION_PASS" && !_request.Postcopy && e.Data.TryGetProperty("pass", out var done)
                && DowntimeSteps.LimitFor(_request.DowntimeLimitMs, _request.InitialDowntimeLimitMs, done.GetInt64()) is var limit && limit != _downtimeLimitMs)
            {
                _downtimeLimitMs = limit;
                await qmp.MigrateSetParametersAsync(new Dictionary<string, object> { ["downtime-limit"] = (long)limit }, CancellationToken.None).ConfigureAwait(false);
            }
            if (e.Name == "MIGRATION_PASS" && _request.Postcopy && !_postcopyStarted && e.Data.TryGetProperty("pass", out var pass) && pass.GetInt64() >= 2)
            {
                // The first full copy is done: the rest is pulled by the destination on demand.
                _postcopyStarted = true;
                await qmp.MigrateStartPostcopyAsync(CancellationToken.None).ConfigureAwait(false);
            }
            if (e.Name != "MIGRATION") continue;
            var status = e.DataString("status");
            if (status == "pre-switchover")
            {
                var error = await SwitchoverAsync(qmp, e.Timestamp, cancel).ConfigureAwait(false);
                if (error is not null)
                {
                    cancelSent = true;
                    await qmp.MigrateCancelAsync(CancellationToken.None).ConfigureAwait(false);
                    var end = await WaitTerminalAsync(qmp).ConfigureAwait(false);
                    return (end.Status == "completed" ? MigrationOutcome.Completed : MigrationOutcome.Cancelled, error);
                }
            }
            else if (status is "completed" or "failed" or "cancelled")
            {
                if (status == "completed") _completedAt = e.Timestamp;
                var info = await qmp.QueryMigrateAsync(CancellationToken.None).ConfigureAwait(false);
                Report(info, clock);
                return Terminal(info.IsTerminal ? info : info with { Status = status }, cancelSent, timedOut);
            }
        }
    }

    private static (MigrationOutcome, string?) Terminal(QmpMigrationInfo info, bool cancelSent, CancellationToken timedOut) => info.Status switch
    {
        "completed" => (MigrationOutcome.Completed, null),
        "cancelled" => (MigrationOutcome.Cancelled, timedOut.IsCancellationRequested ? "the migration took longer than its timeout" : "cancelled"),
        _ => (cancelSent ? MigrationOutcome.Cancelled : MigrationOutcome.Failed, info.ErrorDescription ?? "QEMU reported the migration failed"),
    };

    private async Task<QmpMigrationInfo> WaitTerminalAsync(QmpClient qmp)
    {
        for (var i = 0; ; i++)
        {
            var info = await qmp.QueryMigrateAsync(CancellationToken.None).ConfigureAwait(false);
            if (info.IsTerminal || i > 600) return info;
            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    /// <summary>Pre-switchover, guest stopped: release our locks, let the node move everything, continue.</summary>
    /// <returns>null when QEMU was told to continue; else why the migration must be cancelled.</returns>
    private async Task<string?> SwitchoverAsync(QmpClient qmp, DateTimeOffset pausedAt, CancellationToken cancel)
    {
        _pausedAt = pausedAt;
        try
        {
            if (cancel.IsCancellationRequested) return "cancelled";
            var flushClock = Stopwatch.StartNew();
            foreach (var export in _vm.Exports.Where(x => x.Locked))
            {
                var error = await _disks.FlushAndReleaseAsync(export.ExportId, CancellationToken.None).ConfigureAwait(false);
                if (error is not null) return $"flushing and releasing volume '{export.Volume}' failed: {error}";
                export.Locked = false;
                _released.Add(export);
            }
            _options.Log?.Invoke($"vm {_vm.Name}: switch-over: {_released.Count} volume(s) flushed and released in {flushClock.ElapsedMilliseconds} ms");
            if (_request.Switchover is { } hook)
            {
                string? error;
                try
                {
                    error = await hook(cancel).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    error = $"switch-over step failed: {e.Message}";
                }
                if (error is not null) return error;
            }
            _switchedOver = true;
            _continued = true;
            await qmp.MigrateContinueAsync("pre-switchover", CancellationToken.None).ConfigureAwait(false);
            _continuedAt = _options.TimeProvider.GetUtcNow();
            if (_request.Takeover is { } takeover)
            {
                // Not awaited: the destination takes the locks and ports while QEMU sends the last state.
                var ranHere = _ranHere;
                _takeover = Task.Run(async () =>
                {
                    try
                    {
                        return await takeover(ranHere, CancellationToken.None).ConfigureAwait(false);
                    }
                    finally
                    {
                        _takeoverDoneAt = _options.TimeProvider.GetUtcNow();
                    }
                });
            }
            return null;
        }
        finally
        {
            // From QEMU's own timestamp of the pause (its event) to QEMU's answer to migrate-continue: the
            // whole time the switch-over step added to the downtime, event delivery included.
            _switchoverMs = Math.Max(0, (long)(_options.TimeProvider.GetUtcNow() - pausedAt).TotalMilliseconds);
        }
    }

    private async Task<MigrationReport> FinishCompletedAsync(QmpClient qmp, Stopwatch clock)
    {
        // Right after "completed" QEMU may still report total-time and downtime as 0: ask again.
        var info = await qmp.QueryMigrateAsync(CancellationToken.None).ConfigureAwait(false);
        for (var i = 0; i < 40 && (info.TotalTimeMs == 0 || info.DowntimeMs is null or 0); i++)
        {
            await Task.Delay(25).ConfigureAwait(false);
            info = await qmp.QueryMigrateAsync(CancellationToken.None).ConfigureAwait(false);
        }
        Report(info, clock);
        // With the destination's "resumed at" this gives the guest's whole pause (one clock on one host).
        _options.Log?.Invoke($"vm {_vm.Name}: migrated to {Destination}; the guest stopped here at " +
            $"{_stoppedAt?.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} (unix ms)");
        _vm.MarkMigratedAway(Destination);
        await _vm.ForceQuitAsync(CancellationToken.None).ConfigureAwait(false);
        return new MigrationReport(MigrationOutcome.Completed, null, info.TotalTimeMs, info.DowntimeMs, info.SetupTimeMs,
            info.RamTransferredBytes, info.DirtySyncCount, _postcopyStarted, _switchoverMs,
            Between(_stoppedAt, _pausedAt), Between(_continuedAt, _completedAt), Between(_completedAt, _takeoverDoneAt));
    }

    private static long Between(DateTimeOffset? from, DateTimeOffset? to) =>
        from is { } a && to is { } b ? Math.Max(0, (long)(b - a).TotalMilliseconds) : 0;

    private async Task<MigrationReport> FinishFailedAsync(QmpClient qmp, MigrationOutcome outcome, string? error, Stopwatch clock)
    {
        QmpMigrationInfo? info = null;
        if (_switchedOver && _request.SwitchBack is { } back)
        {
            var switchedBack = true;
            try { switchedBack = await back(CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) { error += $"; switching back failed: {e.Message}"; }
            if (!switchedBack)
            {
                // The destination already runs the guest (its takeover went through; only its answer got lost):
                // it keeps it, and this copy must never run again.
                _options.Log?.Invoke($"vm {_vm.Name}: migration to {Destination}: {error}; the destination already runs the guest and keeps it");
                return await FinishCompletedAsync(qmp, clock).ConfigureAwait(false);
            }
        }
        foreach (var export in _released)
        {
            var err = await _disks.AcquireLockAsync(export.ExportId, CancellationToken.None).ConfigureAwait(false);
            if (err is null) export.Locked = true;
            else error += $"; retaking the lock of volume '{export.Volume}' failed: {err}";
        }
        // A source that died stays marked as migrating, so its crash is never auto-restarted here.
        if (qmp.IsConnected)
        {
            try
            {
                info = await qmp.QueryMigrateAsync(CancellationToken.None).ConfigureAwait(false);
                var status = await qmp.QueryStatusAsync(CancellationToken.None).ConfigureAwait(false);
                if (_continued && _ranHere && !status.Running)
                {
                    // QEMU resumes a failed or cancelled migration by itself, not a completed one whose
                    // takeover failed (it sits in postmigrate): the guest runs here again, locks retaken above.
                    await qmp.ContAsync(CancellationToken.None).ConfigureAwait(false);
                    status = await qmp.QueryStatusAsync(CancellationToken.None).ConfigureAwait(false);
                }
                _vm.Migrating = false;
                _vm.SetState(status.Running ? VmState.Running : VmState.Paused, $"migration to {Destination} {outcome.ToString().ToLowerInvariant()}: {error}");
            }
            catch (Exception e) when (e is QmpConnectionLostException or TimeoutException or QmpException)
            {
                outcome = MigrationOutcome.SourceDied;
            }
        }
        else
        {
            outcome = MigrationOutcome.SourceDied;
        }
        _options.Log?.Invoke($"vm {_vm.Name}: migration to {Destination}: {outcome}: {error}");
        return new MigrationReport(outcome, error, info?.TotalTimeMs ?? clock.ElapsedMilliseconds, null, info?.SetupTimeMs ?? 0,
            info?.RamTransferredBytes ?? 0, info?.DirtySyncCount ?? 0, _postcopyStarted, _switchoverMs);
    }

    private void Report(QmpMigrationInfo info, Stopwatch clock) =>
        _progress?.Report(new MigrationProgress(info.Status, clock.ElapsedMilliseconds, info.RamTransferredBytes, info.RamRemainingBytes,
            info.RamTotalBytes, info.DirtyPagesRate, info.DirtyPagesRate * info.PageSizeBytes, info.ExpectedDowntimeMs, info.ThroughputMbps,
            info.DirtySyncCount));
}
