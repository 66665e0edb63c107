namespace Fabric.Hypervisor.Migration;

/// <summary>What the source of a live migration is asked to do (`fabric vm migrate VM --to NODE ...`).</summary>
public sealed record MigrationRequest
{
    /// <summary>The destination's URI, from <see cref="MigrationDestination.Uri"/> ("tcp:10.0.0.2:49152").</summary>
    public required string Uri { get; init; }
    /// <summary>The destination node's name, for reports.</summary>
    public string DestinationName { get; init; } = "";
    /// <summary>The longest pause QEMU may plan for the final copy (QEMU's downtime-limit), reached in steps
    /// (<see cref="DowntimeSteps"/>).</summary>
    public uint DowntimeLimitMs { get; init; } = 300;
    /// <summary>The downtime limit of the first passes, doubled each later pass up to <see cref="DowntimeLimitMs"/>;
    /// at or above it, QEMU gets <see cref="DowntimeLimitMs"/> from the start.</summary>
    public uint InitialDowntimeLimitMs { get; init; } = DowntimeSteps.DefaultInitialMs;
    /// <summary>Bandwidth cap; null = no cap (QEMU's own default would be 128 MiB/s).</summary>
    public ulong? BandwidthMiBps { get; init; }
    /// <summary>Switch to post-copy after the first full pass: the guest runs on the destination and pulls
    /// the pages it still lacks. Must match the destination's <see cref="IncomingMigrationOptions.Postcopy"/>.
    /// A failure after that point loses the VM (neither side has all of it); that is post-copy's trade.</summary>
    public bool Postcopy { get; init; }
    /// <summary>Throttle the guest's vCPUs when it dirties memory faster than the link carries it.</summary>
    public bool AutoConverge { get; init; }
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>Give up (cancel) after this long; null = never.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// The node's switch-over step, run while QEMU waits in pre-switchover with the guest stopped and after
    /// this side has flushed and released the volume locks: move the VM (and its ports) in the map. Returns
    /// null on success, else an error; on error it must have undone its own partial work, and the migration
    /// is cancelled with the locks taken back here. Null hook: nothing beyond the locks.
    /// </summary>
    public Func<CancellationToken, Task<string?>>? Switchover { get; init; }

    /// <summary>
    /// The destination's takeover (<see cref="MigrationDestination.SwitchoverAsync"/>: take the locks,
    /// activate the ports, and let the guest run there once its state is in), started right after
    /// migrate-continue so that it runs beside QEMU's final pass instead of inside the pause. The argument:
    /// whether the guest ran here (the destination resumes it only then). Returns null on success, else an
    /// error: then the migration fails, <see cref="SwitchBack"/> runs and the guest resumes here. The
    /// destination keeps its guest paused until this has succeeded, so it never runs without the locks.
    /// </summary>
    public Func<bool, CancellationToken, Task<string?>>? Takeover { get; init; }

    /// <summary>
    /// Undo of a successful <see cref="Switchover"/> when the migration still fails after it (the destination
    /// died while the last state was in flight, or its takeover failed): move the VM back in the map and
    /// have the destination drop its copy (<see cref="MigrationDestination.ReleaseSwitchoverAsync"/>).
    /// Returns true when switched back (the source then takes its locks again and resumes the guest); false
    /// when the destination already runs the guest: it keeps it, and this side quits.
    /// </summary>
    public Func<CancellationToken, Task<bool>>? SwitchBack { get; init; }
}
