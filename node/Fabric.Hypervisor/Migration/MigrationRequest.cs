namespace Fabric.Hypervisor.Migration;

/// <summary>What the source of a live migration is asked to do (`fabric vm migrate VM --to NODE ...`).</summary>
public sealed record MigrationRequest
{
    /// <summary>The destination's URI, from <see cref="MigrationDestination.Uri"/> ("tcp:10.0.0.2:49152").</summary>
    public required string Uri { get; init; }
    /// <summary>The destination node's name, for reports.</summary>
    public string DestinationName { get; init; } = "";
    /// <summary>The longest pause QEMU may plan for the final copy (QEMU's downtime-limit).</summary>
    public uint DowntimeLimitMs { get; init; } = 300;
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
    /// this side has flushed and released the volume locks: move the VM (and its ports) in the map, have the
    /// destination take the locks and activate its ports (<see cref="MigrationDestination.SwitchoverAsync"/>).
    /// Returns null on success, else an error; on error it must have undone its own partial work, and the
    /// migration is cancelled with the locks taken back here. Null hook: nothing beyond the locks.
    /// </summary>
    public Func<CancellationToken, Task<string?>>? Switchover { get; init; }

    /// <summary>
    /// Undo of a successful <see cref="Switchover"/> when the migration still fails before the destination
    /// runs (the destination died while the last state was in flight): move the VM back in the map and
    /// have the destination release its locks (<see cref="MigrationDestination.ReleaseSwitchoverAsync"/>).
    /// The source then takes its locks again and resumes the guest.
    /// </summary>
    public Func<CancellationToken, Task>? SwitchBack { get; init; }
}
