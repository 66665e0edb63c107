namespace Fabric.Hypervisor.Migration;

/// <summary>The final report of a migration: times as QEMU measured them, bytes moved.</summary>
/// <param name="SwitchoverMs">How long the guest sat paused in pre-switchover (from QEMU's event timestamp to
/// its answer to migrate-continue): what the switch-over step (locks, map, ports) added to the downtime.</param>
public sealed record MigrationReport(
    MigrationOutcome Outcome,
    string? Error,
    long TotalTimeMs,
    long? DowntimeMs,
    long SetupTimeMs,
    long TransferredBytes,
    long Passes,
    bool Postcopy,
    long SwitchoverMs)
{
    public bool Ok => Outcome == MigrationOutcome.Completed;

    public static MigrationReport Refused(string error) => new(MigrationOutcome.Refused, error, 0, null, 0, 0, 0, false, 0);

    public override string ToString() =>
        $"{Outcome}{(Error is null ? "" : $" ({Error})")}: total {TotalTimeMs} ms, downtime {DowntimeMs?.ToString() ?? "?"} ms, " +
        $"{TransferredBytes / (1024.0 * 1024):0.0} MiB in {Passes} passes, switch-over {SwitchoverMs} ms";
}
