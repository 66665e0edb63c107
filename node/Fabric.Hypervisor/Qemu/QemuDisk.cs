namespace Fabric.Hypervisor.Qemu;

/// <summary>A disk as QEMU sees it: an export's socket, resolved by the block backend.</summary>
/// <param name="NbdExportName">The NBD export to ask for (NBD only).</param>
public sealed record QemuDisk(QemuDiskTransport Transport, string SocketPath, string? NbdExportName, bool ReadOnly);
