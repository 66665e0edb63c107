using Fabric.Client.Messaging;
using Fabric.Client.Volumes;
using Fabric.Proto;
using Fabric.Storage.Store;

namespace Fabric.Storage.Osd;

// Snapshots on the OSD: the snapshot context of a write, and snap trim.
//
// A write's snapshot context is the one the client sent, or the one of the primary's own map for the
// object's volume when that is newer (higher seq): the primary waits for the client's map epoch before
// it processes a write, so its map is never older than the client's, and a snapshot is in effect for
// every write the primary processes with a map that has it. The primary decides from the context and
// the object's head whether the write starts a clone (ObjectFamily.CloneNeeded) and puts the decision
// into the log entry, so replicas and recovery never decide it again.
//
// Snap trim: when snapshots are deleted (or a volume with snapshots goes away), every primary scans its
// PGs for clones that no live snapshot needs any more and removes them with OSD-internal log entries
// (OSD_OP_TRIM_CLONE), a few at a time per PG, through the ordinary write path (so they replicate, wait
// for recovery and scrub chunks like client writes, and are ordered with them).
public sealed partial class OsdCore
{
    private static readonly ulong[] NoSnaps = [];
    private readonly Dictionary<ulong, VolumeInfo> _volumes = new();
    private readonly Dictionary<ulong, ulong[]> _liveSnaps = new();

    /// <summary>Rebuilds the volume index from a new map; true when a snapshot or a volume with snapshots went away.</summary>
    private bool IndexVolumes(ClusterMap map)
    {
        bool removed = false;
        var seen = new HashSet<ulong>();
        foreach (VolumeInfo volume in map.Volumes)
        {
            seen.Add(volume.Id);
            ulong[] snaps = volume.Snapshots.Count == 0 ? NoSnaps : volume.Snapshots.Select(s => s.Id).OrderByDescending(id => id).ToArray();
            if (_liveSnaps.TryGetValue(volume.Id, out ulong[]? before) && before.Any(id => !snaps.Contains(id)))
            {
                removed = true;
            }
            _volumes[volume.Id] = volume;
            _liveSnaps[volume.Id] = snaps;
        }
        foreach (ulong id in _volumes.Keys.Where(id => !seen.Contains(id)).ToList())
        {
            if (_volumes[id].SnapSeq != 0)
            {
                removed = true;
            }
            _volumes.Remove(id);
            _liveSnaps.Remove(id);
        }
        return removed;
    }

    /// <summary>The snapshot context a write runs under: the client's, or the primary map's when newer.</summary>
    private (ulong Seq, IReadOnlyList<ulong> Snaps) SnapContextOf(ClientOp op)
    {
        if (VolumeObjectName.TryParse(op.Object, out ulong volumeId, out _) && _volumes.TryGetValue(volumeId, out VolumeInfo? volume)
            && volume.SnapSeq > op.SnapSeq)
        {
            return (volume.SnapSeq, _liveSnaps[volumeId]);
        }
        return (op.SnapSeq, op.Snaps);
    }

    /// <summary>
    /// Fills the snapshot decisions of a new entry from the object's head (as it is on every acting member)
    /// and the write's snapshot context. Returns false for an entry that would change nothing (copy-up of an
    /// existing object, rollback of an absent one, trim of a clone that is gone): it is answered, not logged.
    /// </summary>
    private bool DecideSnapshots(PgState pg, PgLogEntry entry, ClientOp op)
    {
        ObjectHead? head = ObjectFamily.ReadHead(_store, pg.Packed, entry.Object);
        switch (entry.Kind)
        {
            case OsdOpKind.OsdOpCopyUp when head is { Exists: true }:
            case OsdOpKind.OsdOpRollback when head is null:
            case OsdOpKind.OsdOpTrimClone when head is null || head.Clones.All(c => c.Id != op.SnapId):
                return false;
        }
        (ulong seq, IReadOnlyList<ulong> snaps) = entry.Kind == OsdOpKind.OsdOpTrimClone ? (0UL, NoSnaps) : SnapContextOf(op);
        entry.CloneId = ObjectFamily.CloneNeeded(head, seq, snaps);
        entry.SnapSeq = seq;
        var after = head is null ? new ObjectHead() : ObjectHead.Decode(head.ToBytes())!;
        ObjectFamily.BeginModification(after, entry.SnapSeq, entry.CloneId);
        switch (entry.Kind)
        {
            case OsdOpKind.OsdOpDelete:
                entry.Whiteout = after.Clones.Count > 0;
                entry.HeadRemoved = !entry.Whiteout;
                break;
            case OsdOpKind.OsdOpRollback:
                entry.SnapId = op.SnapId;
                bool existed = op.SnapId > after.SnapSeq ? after.Exists : after.CloneFor(op.SnapId) >= 0;
                if (!existed)
                {
                    entry.Whiteout = after.Clones.Count > 0;
                    entry.HeadRemoved = !entry.Whiteout;
                }
                break;
            case OsdOpKind.OsdOpTrimClone:
                entry.SnapId = op.SnapId;
                entry.HeadRemoved = after.Whiteout && after.Clones.Count == 1;
                break;
        }
        return true;
    }

    /// <summary>
    /// Applies one log entry's effect on its object family to the batch (blocks, clones, metadata). Returns
    /// false when a block it had to read failed its checksum: the object is then marked missing so that it
    /// is recovered from a good copy.
    /// </summary>
    private bool ApplyEntryData(PgState pg, PgLogEntry entry, ReadOnlySpan<byte> data, IStoreBatch batch)
    {
        string name = entry.Object;
        if (entry.Kind == OsdOpKind.OsdOpStat)
        {
            return true;
        }
        if (entry.Kind == OsdOpKind.OsdOpDelete && !entry.Whiteout)
        {
            ObjectBlocks.AddDelete(_store, batch, pg.Packed, name);
            return true;
        }
        ObjectHead head = ObjectFamily.ReadHead(_store, pg.Packed, name) ?? new ObjectHead();
        ObjectFamily.BeginModification(head, entry.SnapSeq, entry.CloneId);
        ulong cow = head.Newest?.Id ?? 0;
        bool clean = true;
        switch (entry.Kind)
        {
            case OsdOpKind.OsdOpDelete:
                ObjectFamily.AddRemoveHead(_store, batch, pg.Packed, name, head, whiteout: true);
                break;
            case OsdOpKind.OsdOpWrite:
            case OsdOpKind.OsdOpZero:
            {
                if (head.Whiteout)
                {
                    head.Whiteout = false;
                    head.Size = 0;
                }
                bool zero = entry.Kind == OsdOpKind.OsdOpZero;
                clean = ObjectBlocks.AddWrite(_store, batch, pg.Packed, name, entry.Offset, (int)entry.Length, data, zero, cow);
                if (!zero)
                {
                    head.Size = Math.Max(head.Size, entry.Offset + entry.Length);
                }
                break;
            }
            case OsdOpKind.OsdOpCopyUp:
            {
                head.Whiteout = false;
                // Blocks of zeros stay holes, so a clone of a thin parent stays thin.
                for (int at = 0; at < data.Length; at += ObjectBlocks.BlockSize)
                {
                    ReadOnlySpan<byte> chunk = data.Slice(at, Math.Min(ObjectBlocks.BlockSize, data.Length - at));
                    if (chunk.IndexOfAnyExcept((byte)0) >= 0)
                    {
                        clean &= ObjectBlocks.AddWrite(_store, batch, pg.Packed, name, (ulong)at, chunk.Length, chunk, zero: false, cow);
                    }
                }
                head.Size = Math.Max(head.Size, entry.Length);
                break;
            }
            case OsdOpKind.OsdOpRollback:
                if (entry.HeadRemoved)
                {
                    ObjectBlocks.AddDelete(_store, batch, pg.Packed, name);
                    return true;
                }
                if (entry.Whiteout)
                {
                    ObjectFamily.AddRemoveHead(_store, batch, pg.Packed, name, head, whiteout: true);
                }
                else
                {
                    clean = ObjectFamily.AddRollback(_store, batch, pg.Packed, name, head, entry.SnapId, out _);
                }
                break;
            case OsdOpKind.OsdOpTrimClone:
                if (entry.HeadRemoved)
                {
                    ObjectBlocks.AddDelete(_store, batch, pg.Packed, name);
                    return true;
                }
                ObjectFamily.AddTrim(_store, batch, pg.Packed, name, head, entry.SnapId);
                break;
        }
        head.Version = entry.Version;
        ObjectFamily.WriteHead(batch, pg.Packed, name, head);
        if (!clean)
        {
            PersistMissing(pg, batch, name, entry.Version);
        }
        return clean;
    }

    /// <summary>True when the entry leaves no head metadata behind (a delete without clones, and the like).</summary>
    private static bool RemovesObject(PgLogEntry entry) =>
        entry.HeadRemoved || (entry.Kind == OsdOpKind.OsdOpDelete && !entry.Whiteout);

    /// <summary>Primary, PG active: find clones no live snapshot needs and queue their removal.</summary>
    private void ScanForTrim(PgState pg)
    {
        pg.TrimScanNeeded = false;
        Span<byte> prefix = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(prefix, StoreKeys.ObjectKind, pg.Packed);
        var queued = new HashSet<(string, ulong)>(pg.TrimQueue);
        _store.Scan(prefix[..n], (key, value) =>
        {
            if (value.Length <= ObjectHead.BaseSize)
            {
                return true; // No snapshot set.
            }
            string name = StoreKeys.NameOf(key);
            if (!VolumeObjectName.TryParse(name, out ulong volumeId, out _))
            {
                return true; // Not a volume's object: its snapshots are unknown here, never trimmed.
            }
            ObjectHead? head = ObjectHead.Decode(value);
            if (head is null)
            {
                return true;
            }
            ulong[] live = _liveSnaps.GetValueOrDefault(volumeId) ?? NoSnaps;
            foreach (CloneInfo clone in head.Clones)
            {
                bool needed = false;
                foreach (ulong snap in live)
                {
                    if (snap > clone.From && snap <= clone.Id)
                    {
                        needed = true;
                        break;
                    }
                }
                if (!needed && queued.Add((name, clone.Id)))
                {
                    pg.TrimQueue.Enqueue((name, clone.Id));
                }
            }
            return true;
        });
    }

    /// <summary>Starts queued trims (a few per PG), as OSD-internal writes.</summary>
    private void RunTrims(PgState pg)
    {
        while (pg.TrimQueue.Count > 0 && pg.TrimsInFlight < Math.Max(1, _options.MaxTrimOps))
        {
            (string name, ulong clone) = pg.TrimQueue.Dequeue();
            var op = new ClientOp
            {
                Pool = pg.Id.Pool,
                PgSeed = pg.Id.Seed,
                Object = name,
                Kind = OsdOpKind.OsdOpTrimClone,
                SnapId = clone,
                MapEpoch = _epoch,
            };
            pg.TrimsInFlight++;
            ulong session = pg.Session;
            Dispatch(pg, new PendingClientOp(-1, "", op, DataBuffer.Empty)
            {
                OnDone = status =>
                {
                    if (pg.Session == session)
                    {
                        pg.TrimsInFlight = Math.Max(0, pg.TrimsInFlight - 1);
                    }
                },
            });
        }
    }

    /// <summary>Bytes a volume's objects take in the PGs this OSD leads (head blocks and, per clone, kept blocks).</summary>
    public VolumeUsageReply VolumeUsage(VolumeUsageRequest request)
    {
        var reply = new VolumeUsageReply { Osd = _osd };
        var perSnap = new SortedDictionary<ulong, ulong>();
        Span<byte> prefix = stackalloc byte[16];
        foreach (PgState pg in _pgs.Values)
        {
            if (!pg.IsPrimary || (request.Pool != 0 && pg.Id.Pool != request.Pool))
            {
                continue;
            }
            int n = StoreKeys.PgPrefix(prefix, StoreKeys.ObjectKind, pg.Packed);
            var heads = new List<(string, ObjectHead)>();
            _store.Scan(prefix[..n], (key, value) =>
            {
                string name = StoreKeys.NameOf(key);
                if (VolumeObjectName.TryParse(name, out ulong volumeId, out _) && volumeId == request.VolumeId && ObjectHead.Decode(value) is { } head)
                {
                    heads.Add((name, head));
                }
                return true;
            });
            foreach ((string name, ObjectHead head) in heads)
            {
                if (head.Exists)
                {
                    reply.Objects++;
                }
                (long headBytes, List<(ulong Clone, long Bytes)> clones) = ObjectFamily.Usage(_store, pg.Packed, name, head);
                reply.HeadBytes += (ulong)headBytes;
                foreach ((ulong clone, long bytes) in clones)
                {
                    perSnap[clone] = perSnap.GetValueOrDefault(clone) + (ulong)bytes;
                    reply.SnapshotBytes += (ulong)bytes;
                }
            }
        }
        foreach ((ulong snap, ulong bytes) in perSnap)
        {
            reply.Snaps.Add(new SnapUsage { SnapId = snap, Bytes = bytes });
        }
        return reply;
    }
}
