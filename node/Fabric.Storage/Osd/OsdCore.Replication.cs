using System.Diagnostics;
using Fabric.Client.Messaging;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Store;
using Microsoft.Extensions.Logging;

namespace Fabric.Storage.Osd;

// Replication: primary-copy, acknowledged only when durable on every acting member.
//
//   client                primary P                         replica R1, R2
//     |--ClientOp(tid, reqid, epoch)-->|
//     |                   | epoch ok? primary? active? reqid already logged? object missing?
//     |                   | version = (interval epoch << 32 | seq)
//     |                   | batch{data blocks + crc, object meta, log entry, info} → commit
//     |                   |--RepOp(session, prev, entry, data)-->| same batch → commit
//     |                   |<--RepOpReply(durable)-----------------| (only for the current session)
//     |                   | local commit durable + every replica durable
//     |<--ClientOpReply(ok, version)--|
//
// Retries: the client resends with the same request id (timeout, map change, connection loss). The
// primary answers a logged request id without applying it again, once its object is present on every
// acting member. Replicas apply entries strictly in order (prev must equal their last update) and
// answer duplicates once durable; the primary resends unacknowledged RepOps, so a lost message only
// delays. Below min_replicas the PG does not activate and ops wait in its queue; they are never
// failed and never acknowledged early.
public sealed partial class OsdCore
{
    private const int MaxObjectNameBytes = 512;
    private const int MaxOpBytes = 64 << 20;

    private void HandleClientOp(PendingClientOp op)
    {
        ClientOp c = op.Op;
        if (_placement is null || c.MapEpoch > _epoch)
        {
            _waitingForMap.Add(op);
            return;
        }
        PoolInfo? pool = _placement.FindPool(c.Pool);
        if (pool is null || c.PgSeed >= Math.Max(1, pool.PgCount))
        {
            Reply(op, OsdStatus.NoPool, 0, 0, false, ReadOnlySpan<byte>.Empty);
            return;
        }
        var id = new PgId(c.Pool, c.PgSeed);
        PgMapping mapping = _placement.Get(id)!;
        if (mapping.Primary != _osd || !_pgs.TryGetValue(id.Packed, out PgState? pg) || !pg.IsPrimary)
        {
            Reply(op, OsdStatus.NotPrimary, 0, 0, false, ReadOnlySpan<byte>.Empty);
            return;
        }
        bool clientKind = c.Kind is OsdOpKind.OsdOpRead or OsdOpKind.OsdOpWrite or OsdOpKind.OsdOpZero or OsdOpKind.OsdOpDelete
            or OsdOpKind.OsdOpStat or OsdOpKind.OsdOpCopyUp or OsdOpKind.OsdOpRollback;
        bool carriesData = c.Kind is OsdOpKind.OsdOpWrite or OsdOpKind.OsdOpCopyUp;
        if (!clientKind || c.Object.Length == 0 || c.Object.Length > MaxObjectNameBytes || c.Length > MaxOpBytes || c.Offset > (1UL << 44)
            || (carriesData && op.Data.Length != (int)c.Length) || c.Snaps.Count > 4096)
        {
            Reply(op, OsdStatus.Invalid, 0, 0, false, ReadOnlySpan<byte>.Empty, "malformed op");
            return;
        }
        if (op.IsWrite && RefuseIfFenced(op))
        {
            return;
        }
        if (SupersedeEarlierCopy(op))
        {
            return;
        }
        if (pg.Phase != PgPhase.Active)
        {
            pg.Waiting.Enqueue(op);
            return;
        }
        Dispatch(pg, op);
    }

    /// <summary>Ops refused because they reused the request id of another write (<see cref="RefuseReusedRequestId"/>).</summary>
    public long RefusedRequestIds { get; private set; }

    /// <summary>Resends of ops that this OSD still held, merged into the copy it held (<see cref="PendingClientOp.TakeOver"/>).</summary>
    public long MergedResends { get; private set; }

    /// <summary>
    /// A client resends an op it got no answer for (same request id, new transaction id) every few seconds. When this
    /// OSD still holds an earlier copy (queued behind peering, a missing object, a scrub; or a write in flight),
    /// the new copy takes the earlier one's place instead of queueing beside it: true when it did, and the new copy
    /// is done with. Not for a copy of another object or kind (a client bug or an impostor: handled on its own), nor
    /// for one that names a map this OSD has not seen (it waits for the map first, then comes here again).
    /// </summary>
    private bool SupersedeEarlierCopy(PendingClientOp op)
    {
        if (op.Client.Length == 0 || !_unansweredByRequest.TryGetValue((op.Client, op.Op.RequestSeq), out PendingClientOp? earlier) || earlier == op
            || earlier.Op.Object != op.Op.Object || earlier.Op.Kind != op.Op.Kind)
        {
            return false;
        }
        earlier.TakeOver(op);
        _unanswered.Remove(op);
        op.Data.Release();
        MergedResends++;
        return true;
    }

    private void Dispatch(PgState pg, PendingClientOp op)
    {
        string name = op.Op.Object;
        if (op.IsWrite)
        {
            var key = (op.Client, op.Op.RequestSeq);
            if (op.Client.Length > 0 && pg.InFlightByRequest.TryGetValue(key, out InFlightWrite? running))
            {
                if (running.Op.Op.Object != name || running.Op.Op.Kind != op.Op.Kind)
                {
                    RefuseReusedRequestId(op, running.Op.Op.Object);
                    return;
                }
                running.Duplicates.Add(op);
                return;
            }
            // Checked again here, with the map of this moment: the op may have waited (peering, recovery,
            // a scrub chunk) while maps moved on; every path to StartWrite comes through here.
            if (RefuseIfFenced(op))
            {
                return;
            }
            if (InScrubChunk(pg, name))
            {
                // The object's copies are being compared: the write waits for the chunk.
                pg.ScrubBlocked.Add(op);
                return;
            }
            if (pg.IsMissingAnywhere(name))
            {
                WaitOnObject(pg, name, op, urgent: true);
                return;
            }
            if (op.Client.Length > 0 && pg.RequestIds.TryGetValue(key, out ulong done))
            {
                if (pg.LogEntryAt(done)?.Object is { } logged && logged != name)
                {
                    RefuseReusedRequestId(op, logged);
                    return;
                }
                // A retry of a write already in the log and present on every acting member, but maybe
                // not yet durable everywhere (recovery pushes, our own commit): answer after a no-op
                // entry is durable on every member, which orders after all of that.
                StartWrite(pg, op, barrierFor: done);
                return;
            }
            if (op.Op.RequireExists && ObjectFamily.ReadHead(_store, pg.Packed, name) is not { Exists: true })
            {
                Reply(op, OsdStatus.NoObject, 0, 0, false, ReadOnlySpan<byte>.Empty);
                return;
            }
            StartWrite(pg, op, barrierFor: 0);
            return;
        }
        if (pg.Missing.ContainsKey(name))
        {
            WaitOnObject(pg, name, op, urgent: true);
            return;
        }
        if (pg.ObjectWrites.ContainsKey(name))
        {
            // Reads see only acknowledged data: wait for the object's writes in flight.
            WaitOnObject(pg, name, op, urgent: false);
            return;
        }
        DoRead(pg, op);
    }

    /// <summary>
    /// A client's request id names one op: its resends repeat it. A copy that names another object (or kind) under
    /// the id of a write this PG has in flight or in its log is a client bug or an impostor, not a resend; answering
    /// it as a duplicate would acknowledge a write that never happened, so it is refused, and the logged write is
    /// left alone.
    /// </summary>
    private void RefuseReusedRequestId(PendingClientOp op, string loggedObject)
    {
        RefusedRequestIds++;
        _logger.LogWarning("osd.{Osd}: {Client} reused request id {Seq} for {Kind} of {Object}; it names a write of {Logged}: refused",
            _osd, op.Client, op.Op.RequestSeq, op.Op.Kind, op.Op.Object, loggedObject);
        Reply(op, OsdStatus.Invalid, 0, 0, false, ReadOnlySpan<byte>.Empty,
            $"request id {op.Op.RequestSeq} of {op.Client} already names a write of {loggedObject}; a resend must repeat the op it resends (a new op needs a new request id)");
    }

    /// <summary>Refuses a write that breaks the fencing rule (OsdCore.Fencing.cs); true when it did.</summary>
    private bool RefuseIfFenced(PendingClientOp op)
    {
        OsdStatus allowed = CheckWriteAllowed(op);
        if (allowed == OsdStatus.Ok)
        {
            return false;
        }
        FencedWrites++;
        Reply(op, allowed, 0, 0, false, default, allowed == OsdStatus.Fenced
            ? $"{op.Client} is blocklisted"
            : $"{op.Client} does not hold the exclusive lock of the volume (lock epoch {op.Op.LockEpoch}) in map epoch {_epoch}");
        return true;
    }

    private void StartWrite(PgState pg, PendingClientOp op, ulong barrierFor)
    {
        ClientOp c = op.Op;
        ulong prev = pg.LastUpdate;
        ulong version = (prev >> 32) == pg.IntervalEpoch ? prev + 1 : (pg.IntervalEpoch << 32) | 1;
        bool barrier = barrierFor != 0;
        var entry = new PgLogEntry
        {
            Version = version,
            Object = c.Object,
            // A barrier is logged as a stat: it changes nothing.
            Kind = barrier ? OsdOpKind.OsdOpStat : c.Kind,
            Offset = barrier ? 0 : c.Offset,
            Length = barrier || c.Kind is OsdOpKind.OsdOpDelete or OsdOpKind.OsdOpRollback or OsdOpKind.OsdOpTrimClone ? 0 : c.Length,
            Client = barrier ? "" : op.Client,
            RequestSeq = barrier ? 0 : c.RequestSeq,
            MapEpoch = _epoch,
        };
        if (!barrier && !DecideSnapshots(pg, entry, c))
        {
            // Nothing to change (copy-up of an object that exists, ...): answer as done.
            Reply(op, OsdStatus.Ok, ObjectFamily.ReadHead(_store, pg.Packed, c.Object)?.Version ?? 0, 0, true, ReadOnlySpan<byte>.Empty);
            return;
        }
        var write = new InFlightWrite(op, entry, prev) { SentMs = _env.NowMs, ReplyVersion = barrier ? barrierFor : version };
        op.Started = true;
        foreach (int member in pg.Mapping!.Acting)
        {
            write.Waiting.Add(member);
        }
        pg.InFlight[version] = write;
        if (op.Client.Length > 0 && !barrier)
        {
            pg.InFlightByRequest[(op.Client, c.RequestSeq)] = write;
        }
        pg.ObjectWrites[c.Object] = pg.ObjectWrites.GetValueOrDefault(c.Object) + 1;
        ulong session = pg.Session;
        // The replicas first: their path (network, apply, sync, reply) is the longer one, and our own apply and
        // commit (~80 µs at 4 KiB here) now overlap it instead of preceding it. Their replies are events after
        // this one, so nothing they carry can be handled before our batch is committed below.
        write.StartTimestamp = Stopwatch.GetTimestamp();
        var repOp = new RepOp { Pg = pg.Packed, Session = session, PrevVersion = prev, Entry = entry };
        ReadOnlySpan<byte> data = entry.Kind is OsdOpKind.OsdOpWrite or OsdOpKind.OsdOpCopyUp ? op.Data.Span : default;
        DataBuffer payload = data.Length > 0 ? op.Data : DataBuffer.Empty;
        foreach (int member in pg.Mapping.Acting)
        {
            Send(member, StorageMessageType.MsgRepOp, repOp, payload);
        }
        _env.FlushSends(); // Not held until the end of this event (the loop corks its sends): they travel while we apply.
        if (op.ReceivedTimestamp != 0)
        {
            Perf.WritePrepare.RecordSince(op.ReceivedTimestamp);
        }
        IStoreBatch batch = _store.CreateBatch();
        bool clean = ApplyEntryData(pg, entry, data, batch);
        AppendLog(pg, entry, batch);
        PersistInfoAfterAppend(pg, batch);
        EntryCreated?.Invoke(entry);
        _env.Commit(batch, () => OnWriteAck(pg, session, version, _osd));
        if (!clean)
        {
            // Our own copy had a bad block: it is now missing here and is recovered from a replica.
            pg.UrgentRecovery.Add(c.Object);
        }
    }

    private void HandleRepOpReply(int from, RepOpReply reply)
    {
        if (!_pgs.TryGetValue(reply.Pg, out PgState? pg) || !pg.IsPrimary || reply.Session != pg.Session || pg.Phase != PgPhase.Active)
        {
            return;
        }
        if (reply.Status == OsdStatus.Stale)
        {
            // The replica restarted or moved on without a map change we know of: peer again.
            StartPeering(pg);
            return;
        }
        if (reply.ObjectMissing && pg.InFlight.TryGetValue(reply.Version, out InFlightWrite? write))
        {
            if (!pg.PeerMissing.TryGetValue(from, out Dictionary<string, ulong>? missing))
            {
                missing = new Dictionary<string, ulong>(StringComparer.Ordinal);
                pg.PeerMissing[from] = missing;
            }
            missing[write.Entry.Object] = reply.Version;
        }
        OnWriteAck(pg, reply.Session, reply.Version, from);
    }

    private void OnWriteAck(PgState pg, ulong session, ulong version, int osd)
    {
        if (pg.Session != session || !pg.InFlight.TryGetValue(version, out InFlightWrite? write))
        {
            return;
        }
        if (write.Waiting.Remove(osd))
        {
            (osd == _osd ? Perf.LocalCommit : Perf.ReplicaAck).RecordSince(write.StartTimestamp);
        }
        if (write.Waiting.Count > 0)
        {
            return;
        }
        pg.InFlight.Remove(version);
        string name = write.Entry.Object;
        if (write.Op.Client.Length > 0 && write.ReplyVersion == version)
        {
            pg.InFlightByRequest.Remove((write.Op.Client, write.Op.Op.RequestSeq));
        }
        int left = pg.ObjectWrites.GetValueOrDefault(name) - 1;
        if (left <= 0)
        {
            pg.ObjectWrites.Remove(name);
        }
        else
        {
            pg.ObjectWrites[name] = left;
        }
        Reply(write.Op, OsdStatus.Ok, write.ReplyVersion, 0, true, ReadOnlySpan<byte>.Empty);
        foreach (PendingClientOp duplicate in write.Duplicates)
        {
            Reply(duplicate, OsdStatus.Ok, write.ReplyVersion, 0, true, ReadOnlySpan<byte>.Empty);
        }
        if (left <= 0)
        {
            WakeObject(pg, name);
            if (pg.Scrub is not null)
            {
                ContinueScrub(pg);
            }
        }
    }

    private void DoRead(PgState pg, PendingClientOp op)
    {
        ClientOp c = op.Op;
        ObjectHead? head = ObjectFamily.ReadHead(_store, pg.Packed, c.Object);
        if (c.Kind == OsdOpKind.OsdOpStat)
        {
            if (head is null)
            {
                Reply(op, OsdStatus.Ok, 0, 0, false, ReadOnlySpan<byte>.Empty);
                return;
            }
            ulong snap = c.SnapId;
            bool exists = snap == 0 || snap > head.SnapSeq ? head.Exists : head.CloneFor(snap) >= 0;
            ulong size = !exists ? 0 : snap == 0 || snap > head.SnapSeq ? head.Size : head.Clones[head.CloneFor(snap)].Size;
            Reply(op, OsdStatus.Ok, head.Version, size, exists, ReadOnlySpan<byte>.Empty);
            return;
        }
        DataBuffer buffer = DataBuffer.Rent((int)c.Length);
        try
        {
            if (head is null)
            {
                buffer.Span.Clear();
                Reply(op, OsdStatus.Ok, 0, 0, false, buffer);
                return;
            }
            if (ObjectFamily.ReadAt(_store, pg.Packed, c.Object, head, c.SnapId, c.Offset, buffer.Span, out bool exists, out ulong size) != BlockReadStatus.Ok)
            {
                // Never return bad data: this copy is now missing and is repaired from a replica first.
                IStoreBatch batch = _store.CreateBatch();
                PersistMissing(pg, batch, c.Object, head.Version);
                _env.Commit(batch, null);
                WaitOnObject(pg, c.Object, op, urgent: true);
                return;
            }
            Reply(op, OsdStatus.Ok, head.Version, size, exists, buffer);
        }
        finally
        {
            buffer.Release();
        }
    }

    private void WaitOnObject(PgState pg, string name, PendingClientOp op, bool urgent)
    {
        if (!pg.ObjectWaiters.TryGetValue(name, out List<PendingClientOp>? list))
        {
            list = new List<PendingClientOp>();
            pg.ObjectWaiters[name] = list;
        }
        list.Add(op);
        if (urgent && !pg.Recovering.ContainsKey(name))
        {
            pg.UrgentRecovery.Add(name);
            ScheduleRecovery();
        }
    }

    private void WakeObject(PgState pg, string name)
    {
        if (!pg.ObjectWaiters.Remove(name, out List<PendingClientOp>? list))
        {
            return;
        }
        foreach (PendingClientOp op in list)
        {
            if (pg.Phase != PgPhase.Active)
            {
                pg.Waiting.Enqueue(op);
                continue;
            }
            Dispatch(pg, op);
        }
    }

    /// <summary>Puts every op the PG holds (in flight, waiting on objects) back in its queue, in order.</summary>
    private void RequeueClientOps(PgState pg)
    {
        AbortScrub(pg);
        var ops = new List<PendingClientOp>();
        foreach (InFlightWrite write in pg.InFlight.Values)
        {
            write.Op.Started = false; // Started again from the queue, with a new entry.
            ops.Add(write.Op);
            ops.AddRange(write.Duplicates);
        }
        foreach (List<PendingClientOp> list in pg.ObjectWaiters.Values)
        {
            ops.AddRange(list);
        }
        ops.AddRange(pg.ScrubBlocked);
        pg.ScrubBlocked.Clear();
        while (pg.Waiting.Count > 0)
        {
            ops.Add(pg.Waiting.Dequeue());
        }
        pg.InFlight.Clear();
        pg.InFlightByRequest.Clear();
        pg.ObjectWrites.Clear();
        pg.ObjectWaiters.Clear();
        foreach (PendingClientOp op in ops)
        {
            pg.Waiting.Enqueue(op);
        }
    }

    private void FailWaitingOps(PgState pg, OsdStatus status)
    {
        while (pg.Waiting.Count > 0)
        {
            Reply(pg.Waiting.Dequeue(), status, 0, 0, false, ReadOnlySpan<byte>.Empty);
        }
    }

    private void RetransmitWrites(PgState pg, long now)
    {
        foreach (InFlightWrite write in pg.InFlight.Values)
        {
            if (now - write.SentMs < _options.WriteRetransmitMs)
            {
                continue;
            }
            write.SentMs = now;
            var repOp = new RepOp { Pg = pg.Packed, Session = pg.Session, PrevVersion = write.PrevVersion, Entry = write.Entry };
            DataBuffer data = write.Entry.Kind is OsdOpKind.OsdOpWrite or OsdOpKind.OsdOpCopyUp ? write.Op.Data : DataBuffer.Empty;
            foreach (int member in write.Waiting)
            {
                Send(member, StorageMessageType.MsgRepOp, repOp, data);
            }
        }
    }

    /// <summary>
    /// Our connection to a peer dropped: replication ops it carried may be lost, so resend them soon
    /// (after the messenger's redial back-off) instead of waiting for the retransmit interval.
    /// </summary>
    public void OnPeerConnectionLost(int osd)
    {
        long soon = _env.NowMs - _options.WriteRetransmitMs + 500;
        foreach (PgState pg in _pgs.Values)
        {
            if (!pg.IsPrimary || pg.Phase != PgPhase.Active)
            {
                continue;
            }
            foreach (InFlightWrite write in pg.InFlight.Values)
            {
                if (write.Waiting.Contains(osd) && write.SentMs > soon)
                {
                    write.SentMs = soon;
                }
            }
        }
    }

    /// <summary>Answers with read data by reference (large reads are not copied again).</summary>
    private void Reply(PendingClientOp op, OsdStatus status, ulong version, ulong size, bool exists, DataBuffer data)
    {
        Untrack(op, status);
        if (op.OnDone is not null)
        {
            Reply(op, status, version, size, exists, ReadOnlySpan<byte>.Empty);
            return;
        }
        _env.SendToClient(op.Connection, StorageMessageType.MsgClientOpReply, NewReply(op, status, version, size, exists, ""), data);
        Completed(op, status);
    }

    private ClientOpReply NewReply(PendingClientOp op, OsdStatus status, ulong version, ulong size, bool exists, string error) => new()
    {
        Tid = op.Op.Tid,
        Status = status,
        MapEpoch = _epoch,
        Version = version,
        ObjectSize = size,
        Exists = exists,
        Error = error,
    };

    private void Completed(PendingClientOp op, OsdStatus status)
    {
        op.Data.Release();
        if (status == OsdStatus.Ok)
        {
            ClientOps++;
        }
    }

    private void Reply(PendingClientOp op, OsdStatus status, ulong version, ulong size, bool exists, ReadOnlySpan<byte> data, string error = "")
    {
        Untrack(op, status);
        if (op.OnDone is not null)
        {
            op.Data.Release();
            op.OnDone(status);
            return;
        }
        _env.SendToClient(op.Connection, StorageMessageType.MsgClientOpReply, NewReply(op, status, version, size, exists, error), data);
        op.Data.Release();
        if (status == OsdStatus.Ok)
        {
            ClientOps++;
        }
    }
}
