using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Client.Volumes;

/// <summary>
/// Map changes around a volume's exclusive lock that are not one client's own (`fabric volume lock ls|break`,
/// HA restart of a dead node's VMs). Taking and releasing the lock is <see cref="VolumeClient.AcquireLockAsync"/>.
/// </summary>
public static class VolumeLocks
{
    /// <summary>The changes that break a volume's lock safely: blocklist the holder, then break. One
    /// transaction, so the lock is never free while its old holder may still write (fencing).</summary>
    public static MapChange[] BreakChanges(VolumeInfo volume, string reason)
    {
        if (volume.Lock is not { Owner.Length: > 0 } held)
        {
            return [];
        }
        return
        [
            new MapChange { BlocklistAdd = new BlocklistAdd { Identity = held.Owner, Reason = reason } },
            new MapChange { VolumeLock = new VolumeLockChange { Volume = volume.Name, Op = "break", Owner = held.Owner } },
        ];
    }

    /// <summary>
    /// Breaks the lock of <paramref name="volumeName"/> after blocklisting its holder; returns the epoch of
    /// the change and the identity that was fenced (null when the volume was not locked).
    /// </summary>
    public static async Task<(ulong Epoch, string? Fenced)> BreakAsync(ClusterMap map, string volumeName, string reason,
        Func<MapTransaction, CancellationToken, Task<ulong>> propose, CancellationToken cancellationToken)
    {
        VolumeInfo volume = map.FindVolume(volumeName) ?? throw new ArgumentException($"volume '{volumeName}' does not exist", nameof(volumeName));
        MapChange[] changes = BreakChanges(volume, reason);
        if (changes.Length == 0)
        {
            return (map.Epoch, null);
        }
        var transaction = new MapTransaction { Reason = $"break the lock of {volumeName}: {reason}" };
        transaction.Changes.AddRange(changes);
        ulong epoch = await propose(transaction, cancellationToken).ConfigureAwait(false);
        return (epoch, volume.Lock.Owner);
    }

    /// <summary>The proposer of a monitor client: proposes against the newest map, returns the new epoch.</summary>
    public static Func<MapTransaction, CancellationToken, Task<ulong>> ProposerOf(Fabric.Membership.Client.MonitorClient monitors) =>
        async (transaction, cancellationToken) => (await monitors.ProposeAsync(transaction, cancellationToken).ConfigureAwait(false)).Epoch;
}
