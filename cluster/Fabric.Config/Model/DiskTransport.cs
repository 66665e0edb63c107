namespace Fabric.Config.Model;

/// <summary>How QEMU reaches a VM disk on its node.</summary>
public enum DiskTransport
{
    /// <summary>"vhost-user": the vhost-user-blk socket (the fast path, the default).</summary>
    VhostUser,

    /// <summary>"nbd": the NBD export.</summary>
    Nbd,
}
