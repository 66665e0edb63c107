namespace Fabric.Hypervisor.Migration;

/// <summary>The final report of a migration: times as QEMU measured them, bytes moved.</summary>
/// <param name="SwitchoverMs">How long the guest sat paused in pre-switchover (from QEMU's event timestamp to
/// its answer to migrate-continue): what the switch-over step (locks, map, ports) added to the downtime.</param>
/// <param name="StopMs">From QEMU's STOP event to its pre-switchover event: stopping the vCPUs and devices
/// (vhost-user backends hand back their rings); 0 when not seen.</param>
/// <param name="FinalPassMs">From QEMU's answer to migrate-continue to its completed event: the last dirty
/// pages and the device state; 0 when not seen. Stop + switch-over + final pass is about the downtime.</param>
/// <param name="ResumeWaitMs">How long past QEMU's completion the destination's takeover (which runs beside
/// the final pass) still took: the destination holds the guest paused that much longer than QEMU's downtime
/// says. Measured here, to the takeover's answer, so it errs long.</param>
public sealed record MigrationReport(
    MigrationOutcome Outcome,
    string? Error,
    long TotalTimeMs,
    long? DowntimeMs,
    long SetupTimeMs,
    long TransferredBytes,
    long Passes,
    bool Postcopy,
    long SwitchoverMs,
    long StopMs = 0,
    long FinalPassMs = 0,
    long ResumeWaitMs = 0)
{
    public bool Ok => Outcome == MigrationOutcome.Completed;

    public static MigrationReport Refused(string error) => new(MigrationOutcome.Refused, error, 0, null, 0, 0, 0, false, 0);

    public override string ToString() =>
        $"{Outcome}{(Error is null ? "" : $" ({Error})")}: total {TotalTimeMs} ms, downtime {DowntimeMs?.ToString() ?? "?"} ms, " +
        $"{TransferredBytes / (1024.0 * 1024):0.0} MiB in {Passes} passes, switch-over {SwitchoverMs} ms" +
        (StopMs > 0 || FinalPassMs > 0 ? $" (stop {StopMs} ms, final pass {FinalPassMs} ms)" : "") +
        (ResumeWaitMs > 0 ? $", destination resume waited {ResumeWaitMs} ms for its takeover" : "");
}
