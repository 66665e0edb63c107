using Fabric.Core.Io;

namespace Fabric.BlockBackend.Exports;

/// <summary>How <see cref="BlockExports"/> serves VM disks and where the lock seam goes.</summary>
public sealed record BlockExportsOptions
{
    /// <summary>Directory of the per-disk vhost-user sockets (<c>EXPORT_ID.sock</c>).</summary>
    public required string SocketDirectory { get; init; }

    /// <summary>Unix socket of the node's NBD server for "nbd" disks; null = no NBD transport.</summary>
    public string? NbdSocketPath { get; init; }

    /// <summary>Queues per vhost-user disk.</summary>
    public int QueuesPerDisk { get; init; } = 1;

    /// <summary>
    /// The lock seam. Called by <see cref="BlockExports.AcquireLockAsync"/> (and by
    /// <see cref="BlockExports.ExportAsync"/> when <c>TakeLock</c>) with the volume the provider opened; returns
    /// null on success or why not. Null hook = volumes without locks (local files, tests): always granted.
    /// The node wires it to the volume client's exclusive lock.
    /// </summary>
    public Func<IBlockVolume, CancellationToken, ValueTask<string?>>? AcquireLock { get; init; }

    /// <summary>Releases the lock after a flush (switch-over source). Null = nothing to release.</summary>
    public Func<IBlockVolume, CancellationToken, ValueTask<string?>>? ReleaseLock { get; init; }
}
