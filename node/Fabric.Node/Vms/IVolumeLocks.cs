namespace Fabric.Node.Vms;

/// <summary>
/// The node's side of volume exclusive locks: what the block backend's lock hooks (VM disks) and writable
/// NBD exports call. The one seam to change when the storage client grows its own lock helpers (OSD-side
/// enforcement): today <see cref="MapVolumeLocks"/> takes the lock in the cluster map.
/// </summary>
/// <remarks>
/// A lock is held by the node (its identity "node.ID.INCARNATION") on behalf of one local holder (a VM or
/// an NBD export): two holders on one node are refused like two nodes are, so a VM cannot start on a volume
/// this node exports for writing.
/// </remarks>
public interface IVolumeLocks
{
    /// <returns>null when this node now holds the lock for <paramref name="holder"/>, else why not.</returns>
    ValueTask<string?> AcquireAsync(string volume, string holder, CancellationToken cancellationToken);

    /// <summary>Releases a lock taken for <paramref name="holder"/>; a lock held for another holder is left alone.</summary>
    /// <returns>null when released (or not held), else why not.</returns>
    ValueTask<string?> ReleaseAsync(string volume, string holder, CancellationToken cancellationToken);

    /// <summary>Who holds the volume's lock on this node, or null.</summary>
    string? LocalHolder(string volume);
}
