using System.Diagnostics;
using System.Buffers;
using Fabric.Client.Messaging;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Store;

namespace Fabric.Storage.Osd;

/// <summary>The replica's side: activation, replicated writes, recovery pushes, serving pulls.</summary>
public sealed partial class OsdCore
{
    private void HandleActivate(int from, PgActivate message)
    {
        if (message.IntervalEpoch > _epoch)
        {
            return; // The primary resends; by then we have the map.
        }
        PgMapping? mapping = _placement?.Get(PgId.FromPacked(message.Pg));
        if (mapping is null || mapping.Primary != from || !mapping.Contains(_osd))
        {
            return;
        }
        if (!SelfUp())
        {
            // The map names a newer incarnation of this node: its rejoin, not yet adopted (OnIncarnation). Until
            // then the OSD is stray here, and a replica activated now would be made stray again by the next map
            // while its primary counts it active. The primary resends; once adopted, the activation is taken.
            return;
        }
        PgState pg = GetOrCreatePg(PgId.FromPacked(message.Pg));
        if (message.Session < pg.Session)
        {
            return;
        }
        if (message.Session == pg.Session && pg.ActivatedThisRun)
        {
            // A retransmission: our activation batch was committed before; answer again.
            SendActivateReply(from, pg, message.Session);
            return;
        }
        if (!message.Backfill && pg.LastUpdate != message.MemberLastUpdate)
        {
            // Our log changed since we answered the query (we restarted and lost unsynced entries):
            // the segment the primary chose does not fit; it must peer again.
            Send(from, StorageMessageType.MsgPgActivateReply, new PgActivateReply { Pg = pg.Packed, Session = message.Session, Stale = true });
            return;
        }
        pg.Session = message.Session;
        pg.Mapping ??= mapping;
        IStoreBatch batch = _store.CreateBatch();
        if (message.Backfill)
        {
            Backfill(pg, message.LogTail, message.LastUpdate, message.Entries, message.Listing, batch);
        }
        else if (MergeLog(pg, message.LogTail, message.LastUpdate, message.Entries, batch, message.LogSegment) == MergeResult.NeedBackfill)
        {
            batch.Dispose();
            Send(from, StorageMessageType.MsgPgActivateReply, new PgActivateReply { Pg = pg.Packed, Session = message.Session, NeedBackfill = true });
            return;
        }
        pg.LastEpochStarted = message.IntervalEpoch;
        PersistInfo(pg, batch);
        pg.IsPrimary = false;
        pg.Phase = PgPhase.ReplicaActive;
        pg.ActivatedThisRun = true;
        ulong session = message.Session;
        ulong lastUpdate = pg.LastUpdate;
        _env.Commit(batch, () =>
        {
            pg.DurableVersion = Math.Max(pg.DurableVersion, lastUpdate);
            if (pg.Session == session)
            {
                SendActivateReply(from, pg, session);
            }
        });
    }

    private void SendActivateReply(int to, PgState pg, ulong session)
    {
        var reply = new PgActivateReply { Pg = pg.Packed, Session = session };
        foreach ((string name, ulong need) in pg.Missing)
        {
            reply.Missing.Add(new MissingObject { Object = name, Need = need });
        }
        Send(to, StorageMessageType.MsgPgActivateReply, reply);
    }

    private void HandleRepOp(int from, RepOp op, DataBuffer data)
    {
        if (!_pgs.TryGetValue(op.Pg, out PgState? pg) || op.Session != pg.Session || !pg.ActivatedThisRun || pg.IsPrimary)
        {
            if (pg is null || op.Session >= pg.Session)
            {
                Send(from, StorageMessageType.MsgRepOpReply, new RepOpReply { Pg = op.Pg, Session = op.Session, Version = op.Entry.Version, Status = OsdStatus.Stale });
            }
            return;
        }
        ulong version = op.Entry.Version;
        if (version <= pg.LastUpdate)
        {
            // A resend of an entry we have: answer once it is durable (the first copy's commit answers otherwise).
            if (version <= pg.DurableVersion)
            {
                Send(from, StorageMessageType.MsgRepOpReply, new RepOpReply { Pg = op.Pg, Session = op.Session, Version = version });
            }
            return;
        }
        if (op.PrevVersion != pg.LastUpdate)
        {
            return; // An earlier entry was lost; the primary resends them in order.
        }
        IStoreBatch batch = _store.CreateBatch();
        bool clean = ApplyEntryData(pg, op.Entry, op.Entry.Kind == OsdOpKind.OsdOpWrite ? data.Span : default, batch);
        AppendLog(pg, op.Entry, batch);
        PersistInfoAfterAppend(pg, batch);
        ulong session = op.Session;
        long received = Stopwatch.GetTimestamp();
        _env.Commit(batch, () =>
        {
            pg.DurableVersion = Math.Max(pg.DurableVersion, version);
            if (pg.Session == session)
            {
                Send(from, StorageMessageType.MsgRepOpReply, new RepOpReply { Pg = op.Pg, Session = session, Version = version, ObjectMissing = !clean });
                Perf.ReplicaCommit.RecordSince(received);
            }
        });
    }

    private void HandlePush(int from, Push push, DataBuffer data)
    {
        if (!_pgs.TryGetValue(push.Pg, out PgState? pg) || push.Session != pg.Session)
        {
            return;
        }
        if (pg.IsPrimary)
        {
            OnPullReply(pg, from, push, data);
            return;
        }
        if (!pg.ActivatedThisRun)
        {
            return;
        }
        if (!pg.Missing.TryGetValue(push.Object, out ulong need))
        {
            // A scrub repair rewrites a copy we believe good; never one a later write changed since
            // (a late duplicate of the repair push must not undo that write).
            bool repair = push.Repair && (ObjectBlocks.ReadMeta(_store, pg.Packed, push.Object)?.Version ?? 0) <= push.Version;
            if (!repair)
            {
                Send(from, StorageMessageType.MsgPushReply, new PushReply { Pg = push.Pg, Session = push.Session, Object = push.Object, Version = push.Version });
                return;
            }
        }
        else if (need != AnyVersion && push.Version < need && !push.Deleted)
        {
            return; // Older than what we need: not an answer (the primary retries).
        }
        if (!push.Deleted && ObjectFamily.PushDataBytes(push) != data.Length)
        {
            return; // Malformed: the primary retries.
        }
        IStoreBatch batch = _store.CreateBatch();
        ApplyPush(pg, push, data, batch);
        ulong session = push.Session;
        _env.Commit(batch, () =>
        {
            if (pg.Session == session)
            {
                Send(from, StorageMessageType.MsgPushReply, new PushReply { Pg = push.Pg, Session = session, Object = push.Object, Version = push.Version });
            }
        });
    }

    private void ApplyPush(PgState pg, Push push, DataBuffer data, IStoreBatch batch)
    {
        if (push.Deleted)
        {
            ObjectBlocks.AddDelete(_store, batch, pg.Packed, push.Object);
        }
        else
        {
            ObjectFamily.AddReplace(_store, batch, pg.Packed, push.Object, push, data.Span);
        }
        ClearMissing(pg, batch, push.Object);
    }

    /// <summary>A source OSD: send our copy of an object to the primary that recovers it.</summary>
    private void HandlePullRequest(int from, PullRequest request)
    {
        var push = new Push { Pg = request.Pg, Session = request.Session, Object = request.Object };
        if (!_pgs.TryGetValue(request.Pg, out PgState? pg) || pg.Missing.ContainsKey(request.Object))
        {
            push.Failed = true;
            Send(from, StorageMessageType.MsgPush, push);
            return;
        }
        ObjectMeta? meta = ObjectBlocks.ReadMeta(_store, pg.Packed, request.Object);
        if (meta is null)
        {
            push.Deleted = true;
            Send(from, StorageMessageType.MsgPush, push);
            return;
        }
        var buffer = new ArrayBufferWriter<byte>();
        if (!ObjectFamily.ReadForPush(_store, pg.Packed, request.Object, push, buffer))
        {
            // Our copy is bad: it becomes missing here too, and the primary tries another source.
            IStoreBatch batch = _store.CreateBatch();
            PersistMissing(pg, batch, request.Object, meta.Value.Version);
            _env.Commit(batch, null);
            push.Failed = true;
            Send(from, StorageMessageType.MsgPush, push);
            return;
        }
        Send(from, StorageMessageType.MsgPush, push, buffer.WrittenSpan);
    }
}
