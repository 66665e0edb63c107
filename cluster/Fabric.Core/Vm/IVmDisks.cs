using Fabric.Core.Io;

namespace Fabric.Core.Vm;

/// <summary>
/// The node's block backend as the hypervisor sees it: a VM disk is exported on a socket that QEMU
/// connects to. Each export serves one QEMU (a migration destination gets its own).
/// </summary>
public interface IVmDisks
{
    /// <summary>
    /// Exports a volume for a VM. With <paramref name="takeLock"/> the node takes the volume's exclusive
    /// lock now; without it (a migration destination) the volume is opened and the lock is taken later
    /// by <see cref="AcquireLockAsync"/> at switch-over.
    /// </summary>
    ValueTask<DiskExportResult> ExportAsync(DiskExportRequest request, CancellationToken cancellationToken);

    ValueTask<string?> AcquireLockAsync(string exportId, CancellationToken cancellationToken);

    /// <summary>Flushes every write of the export and releases the volume's lock (switch-over source).</summary>
    ValueTask<string?> FlushAndReleaseAsync(string exportId, CancellationToken cancellationToken);

    ValueTask RemoveAsync(string exportId, CancellationToken cancellationToken);
}

/// <param name="ExportId">Unique on the node, e.g. "vm1-disk0-g7".</param>
/// <param name="Transport">"vhost-user" or "nbd".</param>
/// <param name="Holder">Who uses the disk (the VM's name): shown with the volume's lock and in the node's log.</param>
/// <param name="Cache">The disk's cache mode (its <c>[[vm.disk]]</c> <c>cache</c> key), passed to the volume provider.</param>
public sealed record DiskExportRequest(
    string ExportId, string VolumeName, string Transport, bool ReadOnly, bool TakeLock, string Holder, DiskCacheMode Cache = DiskCacheMode.Default);

/// <param name="SocketPath">The unix socket QEMU connects to.</param>
/// <param name="NbdExportName">For NBD: the export name to ask for.</param>
public readonly record struct DiskExportResult(string? SocketPath, string? NbdExportName, string? Error);
