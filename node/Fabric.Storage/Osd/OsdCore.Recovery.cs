using System.Buffers;
using Fabric.Client.Messaging;
using Fabric.Proto;
using Fabric.Storage.Store;

namespace Fabric.Storage.Osd;

// Recovery and backfill (primary, PG active): every object missing on an acting member is copied
// whole from a good copy. Objects a client waits for go first; the rest are rate-limited
// (MaxRecoveryOps objects at once, RecoveryBytesPerSecond) so that client I/O keeps flowing.
//
//   primary P (missing X)         source S                 replica R (missing X)
//     |--PullRequest(X)------------>|
//     |<--Push(X, version, blocks)--|   (P tries another source on a failed/mismatched copy)
//     | apply X locally
//     |--Push(X, version, blocks)------------------------------>| apply, clear missing, commit
//     |<--PushReply(X) (durable)--------------------------------|
public sealed partial class OsdCore
{
    private const int RecoveryTimeoutFactor = 5;

    private void ScheduleRecovery()
    {
        long now = _env.NowMs;
        foreach (PgState pg in _pgs.Values)
        {
            if (!pg.IsPrimary || pg.Phase != PgPhase.Active)
            {
                continue;
            }
            // Objects clients wait for: not rate-limited.
            while (pg.UrgentRecovery.Count > 0)
            {
                string name = pg.UrgentRecovery[^1];
                pg.UrgentRecovery.RemoveAt(pg.UrgentRecovery.Count - 1);
                if (!pg.Recovering.ContainsKey(name) && pg.IsMissingAnywhere(name) && (!pg.Unfound.Contains(name) || now >= pg.UnfoundRetryMs))
                {
                    pg.Unfound.Remove(name);
                    StartRecovery(pg, name, urgent: true);
                }
            }
            if (pg.Unfound.Count > 0 && now >= pg.UnfoundRetryMs)
            {
                pg.Unfound.Clear();
            }
        }
        int active = RecoveryActive();
        foreach (PgState pg in _pgs.Values)
        {
            if (!pg.IsPrimary || pg.Phase != PgPhase.Active)
            {
                continue;
            }
            while (active < _options.MaxRecoveryOps && (_options.RecoveryBytesPerSecond <= 0 || _recoveryTokens > 0))
            {
                string? next = NextToRecover(pg);
                if (next is null)
                {
                    break;
                }
                StartRecovery(pg, next, urgent: false);
                active = RecoveryActive();
            }
            MaybeClean(pg);
        }
    }

    /// <summary>
    /// Recovery ops running on this OSD as primary. Counted, not tracked in a field: a re-peer drops a
    /// PG's recovery ops wholesale, and a separate counter leaked them (recovery then stalled for good).
    /// </summary>
    private int RecoveryActive()
    {
        int active = 0;
        foreach (PgState pg in _pgs.Values)
        {
            active += pg.Recovering.Count;
        }
        return active;
    }

    private static string? NextToRecover(PgState pg)
    {
        foreach (string name in pg.Missing.Keys)
        {
            if (!pg.Recovering.ContainsKey(name) && !pg.Unfound.Contains(name))
            {
                return name;
            }
        }
        foreach (Dictionary<string, ulong> missing in pg.PeerMissing.Values)
        {
            foreach (string name in missing.Keys)
            {
                if (!pg.Recovering.ContainsKey(name) && !pg.Unfound.Contains(name))
                {
                    return name;
                }
            }
        }
        return null;
    }

    private void StartRecovery(PgState pg, string name, bool urgent)
    {
        var op = new RecoveryOp(name) { Urgent = urgent, StartedMs = _env.NowMs };
        pg.Recovering[name] = op;
        if (pg.Missing.TryGetValue(name, out ulong need))
        {
            BeginPull(pg, op, need);
        }
        else
        {
            BeginPush(pg, op);
        }
    }

    private void BeginPull(PgState pg, RecoveryOp op, ulong need)
    {
        int source = -1;
        // A scrub repair names the member whose copy is authoritative.
        if (pg.RepairSources.TryGetValue(op.Name, out int auth) && auth != _osd && !op.TriedSources.Contains(auth) && pg.Mapping!.Contains(auth))
        {
            source = auth;
        }
        // Acting members hold the authoritative history after activation.
        foreach (int member in pg.Mapping!.Acting)
        {
            if (source < 0 && member != _osd && !op.TriedSources.Contains(member) && pg.PeerMissing.TryGetValue(member, out var missing) && !missing.ContainsKey(op.Name))
            {
                source = member;
                break;
            }
        }
        if (source < 0 && need != AnyVersion)
        {
            // Strays and former members that answered peering and may hold the version we need.
            foreach ((int osd, PgNotify notify) in pg.Notifies)
            {
                if (osd == _osd || op.TriedSources.Contains(osd) || pg.Mapping.Contains(osd) || notify.Info.LastUpdate < need || !_placement!.IsUp(osd))
                {
                    continue;
                }
                bool theyMiss = false;
                foreach (MissingObject m in notify.Info.Missing)
                {
                    if (m.Object == op.Name)
                    {
                        theyMiss = true;
                        break;
                    }
                }
                if (!theyMiss)
                {
                    source = osd;
                    break;
                }
            }
        }
        if (source < 0)
        {
            // Unfound for now: retried later (a member holding it may come back).
            pg.Unfound.Add(op.Name);
            pg.UnfoundRetryMs = _env.NowMs + 5 * _options.RetransmitMs;
            EndRecovery(pg, op, recovered: false);
            return;
        }
        op.Pulling = true;
        op.Source = source;
        op.StartedMs = _env.NowMs;
        Send(source, StorageMessageType.MsgPullRequest, new PullRequest { Pg = pg.Packed, Session = pg.Session, Object = op.Name });
    }

    private void OnPullReply(PgState pg, int from, Push push, DataBuffer data)
    {
        if (pg.Phase != PgPhase.Active || !pg.Recovering.TryGetValue(push.Object, out RecoveryOp? op) || !op.Pulling || op.Source != from)
        {
            return;
        }
        if (!pg.Missing.TryGetValue(push.Object, out ulong need))
        {
            op.Pulling = false;
            BeginPush(pg, op);
            return;
        }
        bool acceptable = !push.Failed && (need == AnyVersion || (!push.Deleted && push.Version == need))
            && (push.Deleted || ObjectFamily.PushDataBytes(push) == data.Length);
        if (!acceptable)
        {
            op.TriedSources.Add(from);
            BeginPull(pg, op, need);
            return;
        }
        IStoreBatch batch = _store.CreateBatch();
        ApplyPush(pg, push, data, batch);
        _env.Commit(batch, null);
        op.Pulling = false;
        BeginPush(pg, op);
    }

    private void BeginPush(PgState pg, RecoveryOp op)
    {
        op.PushTargets.Clear();
        foreach ((int member, Dictionary<string, ulong> missing) in pg.PeerMissing)
        {
            if (missing.ContainsKey(op.Name) && pg.Mapping!.Contains(member))
            {
                op.PushTargets.Add(member);
            }
        }
        if (op.PushTargets.Count == 0)
        {
            EndRecovery(pg, op, recovered: true);
            return;
        }
        var push = new Push { Pg = pg.Packed, Session = pg.Session, Object = op.Name, Repair = pg.RepairSources.ContainsKey(op.Name) };
        ObjectMeta? meta = ObjectBlocks.ReadMeta(_store, pg.Packed, op.Name);
        var buffer = new ArrayBufferWriter<byte>();
        if (meta is null)
        {
            push.Deleted = true;
            // A repair that deletes: never undo a write made after it (see HandlePush).
            push.Version = pg.LastUpdate;
        }
        else if (!ObjectFamily.ReadForPush(_store, pg.Packed, op.Name, push, buffer))
        {
            IStoreBatch batch = _store.CreateBatch();
            PersistMissing(pg, batch, op.Name, meta.Value.Version);
            _env.Commit(batch, null);
            BeginPull(pg, op, meta.Value.Version);
            return;
        }
        op.Version = push.Version;
        op.StartedMs = _env.NowMs;
        _recoveryTokens -= buffer.WrittenCount;
        foreach (int target in op.PushTargets)
        {
            Send(target, StorageMessageType.MsgPush, push, buffer.WrittenSpan);
        }
    }

    private void HandlePushReply(int from, PushReply reply)
    {
        if (!_pgs.TryGetValue(reply.Pg, out PgState? pg) || !pg.IsPrimary || reply.Session != pg.Session || pg.Phase != PgPhase.Active)
        {
            return;
        }
        if (!pg.Recovering.TryGetValue(reply.Object, out RecoveryOp? op) || op.Pulling || !op.PushTargets.Remove(from))
        {
            return;
        }
        if (pg.PeerMissing.TryGetValue(from, out Dictionary<string, ulong>? missing))
        {
            missing.Remove(reply.Object);
        }
        if (op.PushTargets.Count == 0)
        {
            EndRecovery(pg, op, recovered: true);
            ScheduleRecovery();
        }
    }

    private void EndRecovery(PgState pg, RecoveryOp op, bool recovered)
    {
        pg.Recovering.Remove(op.Name);
        if (recovered)
        {
            RecoveredObjects++;
            OnObjectRepaired(pg, op.Name);
            WakeObject(pg, op.Name);
        }
    }

    private void RetransmitRecovery(PgState pg, long now)
    {
        if (pg.Recovering.Count == 0)
        {
            return;
        }
        foreach (RecoveryOp op in pg.Recovering.Values.ToArray())
        {
            if (now - op.StartedMs < RecoveryTimeoutFactor * _options.RetransmitMs)
            {
                continue;
            }
            if (op.Pulling)
            {
                op.TriedSources.Add(op.Source);
                BeginPull(pg, op, pg.Missing.GetValueOrDefault(op.Name, AnyVersion));
            }
            else
            {
                BeginPush(pg, op);
            }
        }
    }

    /// <summary>Once clean, strays that answered peering with data are told to drop their copies.</summary>
    private void MaybeClean(PgState pg)
    {
        if (pg.Mapping!.Acting.Length < pg.Mapping.Replicas || pg.DegradedCount() > 0 || pg.Recovering.Count > 0)
        {
            return;
        }
        foreach ((int osd, PgNotify notify) in pg.Notifies)
        {
            if (osd != _osd && notify.Info.Exists && !pg.Mapping.Contains(osd))
            {
                Send(osd, StorageMessageType.MsgPgRemove, new PgRemove { Pg = pg.Packed, IntervalEpoch = pg.IntervalEpoch });
                notify.Info.Exists = false;
            }
        }
    }
}
