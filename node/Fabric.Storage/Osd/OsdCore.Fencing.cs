using Fabric.Client.Volumes;
using Fabric.Proto;

namespace Fabric.Storage.Osd;

// Exclusive lock and fencing: which writes a primary accepts.
//
//   owner A (lock epoch La)      monitor                      primary P            new owner B
//     |--ClientOp(write, La, e)---------------------------------->| map >= e? (waits)
//     |                            | blocklist A, break, B takes  | A blocklisted? -> FENCED
//     |                            | the lock: epoch F <= Lb      | lock owner/epoch != (A, La)
//     |                            |                              |   -> NOT_LOCK_OWNER
//     |                            |                              |<--ClientOp(write, Lb, e >= Lb)--|
//
// The rule (checked by the primary against its own map when the write arrives, and again right before
// it is logged and applied, since a write may wait for peering, recovery or a scrub chunk meanwhile):
//   1. the client identity (from the connection's Hello) is not blocklisted;
//   2. for an object of a volume: when the volume's lock is held, the identity is its owner and the
//      write's lock epoch is the lock's acquired_epoch; when it is free, the write claims no lock
//      (lock epoch 0: tools writing an unlocked volume).
// A write's map epoch is at least its lock epoch (the client learned the lock from that map), and the
// primary processes a write only once its own map has the write's epoch (HandleClientOp), so a primary
// never judges a lock with a map older than the one the lock was granted in.
//
// Why a stale map cannot let a fenced write land after the new owner's writes. Breaking A's lock needs
// A blocklisted first (MapTransactions), so A is blocklisted at some epoch F <= Lb, the epoch B's lock
// was granted. Take any object X and a write of B to X, applied by the primary P of X's PG with map
// epoch m >= Lb >= F (rule above). Every later entry of that PG's log is created either by P in the
// same interval, whose map only grows (>= m), or by the primary of a later interval, which begins after
// the epoch P used, so at an epoch > m. Each of them checks rule 1 with a map >= F and refuses A. So in
// X's history every write of A precedes every write of B: B's data is never overwritten by A. Writes of
// A that a primary with a map older than F applied (it was partitioned from the monitor together with
// A) are ordered before all of B's; and unless their interval's acting set acknowledged them they are
// rolled back by peering like any unacknowledged write. What is not promised: that no write of A lands
// anywhere after wall-clock time F; only that none lands after (or is applied by a primary that knows)
// the fence. The simulation checks both properties (Fabric.Simulation SimVolumeWorkload).
public sealed partial class OsdCore
{
    /// <summary>Writes refused by rule 1 or 2 (stat).</summary>
    public long FencedWrites { get; private set; }

    /// <summary>Checks the fencing rule for a write; Ok or the status to refuse it with.</summary>
    private OsdStatus CheckWriteAllowed(PendingClientOp op)
    {
        if (op.OnDone is not null)
        {
            return OsdStatus.Ok; // The OSD's own maintenance (snap trim) claims no lock.
        }
        if (_blocklist.Contains(op.Client))
        {
            return OsdStatus.Fenced;
        }
        if (!VolumeObjectName.TryParse(op.Op.Object, out ulong volumeId, out _) || !_volumes.TryGetValue(volumeId, out VolumeInfo? volume))
        {
            return OsdStatus.Ok;
        }
        VolumeLock? held = volume.Lock is { Owner.Length: > 0 } ? volume.Lock : null;
        if (held is null)
        {
            return op.Op.LockEpoch == 0 ? OsdStatus.Ok : OsdStatus.NotLockOwner;
        }
        return held.Owner == op.Client && held.AcquiredEpoch == op.Op.LockEpoch ? OsdStatus.Ok : OsdStatus.NotLockOwner;
    }
}
