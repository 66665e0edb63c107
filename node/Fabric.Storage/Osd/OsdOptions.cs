namespace Fabric.Storage.Osd;

/// <summary>Tunables of one OSD. Defaults suit a node; tests and the simulation shrink some.</summary>
public sealed record OsdOptions
{
    /// <summary>PG log entries kept per PG; a member further behind is backfilled.</summary>
    public int MaxLogEntries { get; init; } = 3000;

    /// <summary>Objects recovered or backfilled at once by this OSD as primary (the recovery rate limit).</summary>
    public int MaxRecoveryOps { get; init; } = 4;

    /// <summary>Recovery bytes per second pushed by this OSD as primary (0 = unlimited).</summary>
    public long RecoveryBytesPerSecond { get; init; } = 256L << 20;

    /// <summary>Resend interval for peering messages, replication ops and recovery that got no answer.</summary>
    public int RetransmitMs { get; init; } = 1000;

    /// <summary>
    /// Resend interval for replication ops that got no answer. Peer connections are reliable while they
    /// last and a dropped connection triggers a resend by itself (<see cref="OsdCore.OnPeerConnectionLost"/>),
    /// so this only covers what nothing else notices; short values duplicate large writes that are merely slow.
    /// </summary>
    public int WriteRetransmitMs { get; init; } = 30_000;

    /// <summary>The node's incarnation from its join (0 = unknown: accept any).</summary>
    public ulong Incarnation { get; init; }

    /// <summary>Capacity reported when the store cannot tell.</summary>
    public long CapacityBytes { get; init; } = 100L << 30;
}
