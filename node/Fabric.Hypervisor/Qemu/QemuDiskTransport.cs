namespace Fabric.Hypervisor.Qemu;

/// <summary>How QEMU reaches a disk export of the node's block backend.</summary>
public enum QemuDiskTransport
{
    /// <summary>vhost-user-blk: the backend maps guest memory (shared memfd) and serves the virtqueues.</summary>
    VhostUser,
    /// <summary>QEMU's NBD client; slower, but needs nothing from guest memory.</summary>
    Nbd,
}
