namespace Fabric.Hypervisor.Migration;

/// <summary>One progress sample of a running migration (from query-migrate on the source).</summary>
/// <param name="Status">QEMU's status: "setup", "active", "pre-switchover", "device", "postcopy-active", ...</param>
/// <param name="DirtyRateBytesPerSecond">Dirty pages per second times the page size.</param>
/// <param name="Pass">Dirty-bitmap syncs so far (1 = first full copy).</param>
public readonly record struct MigrationProgress(
    string Status,
    long ElapsedMs,
    long TransferredBytes,
    long RemainingBytes,
    long TotalBytes,
    long DirtyPagesRate,
    long DirtyRateBytesPerSecond,
    long? ExpectedDowntimeMs,
    double ThroughputMbps,
    long Pass);
