namespace Fabric.Hypervisor.Migration;

/// <summary>How a migration destination listens.</summary>
public sealed record IncomingMigrationOptions
{
    /// <summary>Address QEMU listens on for the migration stream (the node's data address).</summary>
    public string ListenHost { get; init; } = "127.0.0.1";
    /// <summary>0: QEMU picks a free port, reported in <see cref="MigrationDestination.Uri"/>.</summary>
    public int Port { get; init; }
    /// <summary>Host the source should connect to, when it differs from <see cref="ListenHost"/> (0.0.0.0).</summary>
    public string? AdvertiseHost { get; init; }
    /// <summary>Enable postcopy-ram here too (it must match the source's request).</summary>
    public bool Postcopy { get; init; }
    /// <summary>The VM's generation after the move; names this side's disk exports.</summary>
    public ulong Generation { get; init; }
}
