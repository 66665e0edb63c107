using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Store;
using Google.Protobuf;

namespace Fabric.Storage.Osd;

// Peering: how a PG's primary establishes one authoritative history before it serves I/O.
//
//   primary P                          every up OSD X (acting or not)
//     | map N changes PG's acting set (a new interval, session s)
//     |--- PgQuery(s, interval N) -------->|  X adopts s (stops acking older sessions' writes)
//     |<-- PgNotify(info, intervals, coverage)|  info: last_update, log_tail, les, missing
//     | safety: every interval after the newest last_epoch_started (les) that could have gone
//     |   read-write must have a member among the answers, and no epoch after it may be unknown
//     |   to all of them (unless every OSD in the map answered); else the PG is DOWN and waits.
//     | auth = highest last_update among the answers with the newest les
//     |--- PgLogRequest ---------------->auth (when auth != P)
//     |<-- PgLogReply(full log) ----------|   P merges it: divergent entries rolled back, missing noted
//     |--- PgListRequest --------------->auth (only when P itself needs backfill)
//     |--- PgActivate(log segment | full log + listing for backfill) --> each acting replica
//     |<-- PgActivateReply(missing) ------|   persisted (les = N) before the reply
//     | ACTIVE: client I/O; recovery pushes/pulls missing objects, backfill fills new members
//     |--- PgRemove --> strays once clean
//
// Why this is safe: an acknowledged write is durable on every member of the acting set of its
// interval, and every member persisted that interval's les before the first write. The newest les
// among the answers therefore names an interval whose members hold every write acknowledged up to
// it, and the check above proves no later interval acknowledged anything without one of its members
// answering. Within the newest-les members, the highest last_update holds them all (replicas apply
// a primary's entries in order). Versions are (interval epoch << 32 | seq), so later intervals'
// entries always sort after earlier ones.
public sealed partial class OsdCore
{
    /// <summary>
    /// A new map (in epoch order, each at most once). Records PG intervals, then re-peers every PG whose
    /// acting set changed.
    /// </summary>
    public void OnMap(ClusterMap map)
    {
        if (map.Epoch <= _epoch && _placement is not null)
        {
            return;
        }
        ulong previous = _epoch;
        _epoch = map.Epoch;
        _placement = PlacementMap.Build(map);
        _blocklist.Clear();
        foreach (BlocklistEntry entry in map.Blocklist)
        {
            _blocklist.Add(entry.Identity);
        }
        if (IndexVolumes(map))
        {
            // Snapshots went away: their clones are trimmed by the primaries.
            foreach (PgState pg in _pgs.Values)
            {
                pg.TrimScanNeeded = true;
            }
        }
        bool selfUp = SelfUp();

        // Coverage: the epochs whose maps this OSD processed.
        if (_coverage.Count > 0 && _coverage[^1].Last + 1 >= map.Epoch && previous != 0)
        {
            _coverage[^1].Last = map.Epoch;
        }
        else
        {
            _coverage.Add(new EpochRange { First = map.Epoch, Last = map.Epoch });
        }
        while (_coverage.Count > 64)
        {
            _coverage.RemoveAt(0);
        }

        IStoreBatch batch = _store.CreateBatch();
        Span<byte> key = stackalloc byte[16];
        var changed = new List<PgState>();
        foreach (PoolInfo pool in _placement.Pools)
        {
            for (uint seed = 0; seed < Math.Max(1, pool.PgCount); seed++)
            {
                var id = new PgId(pool.Id, seed);
                PgMapping mapping = _placement.Get(id)!;
                if (RecordInterval(id.Packed, mapping, map.Epoch))
                {
                    var holder = new PgNotify();
                    holder.Intervals.AddRange(_history[id.Packed]);
                    int n = StoreKeys.PgPrefix(key, StoreKeys.HistoryKind, id.Packed);
                    batch.Put(key[..n], holder.ToByteArray());
                }
                bool member = selfUp && mapping.Contains(_osd);
                _pgs.TryGetValue(id.Packed, out PgState? pg);
                if (pg is null && !member)
                {
                    continue;
                }
                pg ??= GetOrCreatePg(id);
                ulong interval = _history[id.Packed][^1].FirstEpoch;
                bool intervalChanged = pg.Mapping is null || pg.IntervalEpoch != interval || (!member && pg.Phase != PgPhase.Stray);
                pg.Mapping = mapping;
                if (intervalChanged)
                {
                    pg.IntervalEpoch = interval;
                    changed.Add(pg);
                }
            }
        }
        var superblock = new PgNotify { MapEpoch = map.Epoch };
        superblock.Coverage.AddRange(_coverage);
        batch.Put([StoreKeys.SuperblockKind], superblock.ToByteArray());
        _env.Commit(batch, null);

        foreach (PgState pg in changed)
        {
            OnIntervalChange(pg, selfUp);
        }

        // Queries and client ops that waited for this epoch.
        if (_deferredQueries.Count > 0)
        {
            var queries = _deferredQueries.ToArray();
            _deferredQueries.Clear();
            foreach ((int from, PgQuery query) in queries)
            {
                HandleQuery(from, query);
            }
        }
        if (_waitingForMap.Count > 0)
        {
            var ops = _waitingForMap.ToArray();
            _waitingForMap.Clear();
            foreach (PendingClientOp op in ops)
            {
                HandleClientOp(op);
            }
        }
    }

    /// <summary>
    /// The node rejoined the cluster as <paramref name="incarnation"/> while this OSD kept running (the monitor had
    /// marked it down, or it rejoined while the OSD was starting). The process and its store are the same, so the OSD
    /// simply serves as the new incarnation from now on: the maps' entry for this node is judged against it. A map
    /// that already names the new incarnation was processed while this OSD took itself for not up (its PGs went
    /// stray), and no later map need change anything, so the PGs whose membership flips are re-judged here against
    /// the current map: the ones it leads peer again (a new session in the interval the new incarnation started),
    /// the ones it replicates wait for their primary. Older or repeated incarnations are ignored (they only grow).
    /// </summary>
    public void OnIncarnation(ulong incarnation)
    {
        if (incarnation <= _incarnation)
        {
            return;
        }
        bool wasUp = _placement is not null && SelfUp();
        _incarnation = incarnation;
        if (_placement is null)
        {
            return; // The first map is judged with it.
        }
        bool selfUp = SelfUp();
        if (selfUp == wasUp)
        {
            return; // The map does not name either incarnation as up (the rejoin's map is still to come).
        }
        foreach (PoolInfo pool in _placement.Pools)
        {
            for (uint seed = 0; seed < Math.Max(1, pool.PgCount); seed++)
            {
                var id = new PgId(pool.Id, seed);
                PgMapping mapping = _placement.Get(id)!;
                bool member = selfUp && mapping.Contains(_osd);
                _pgs.TryGetValue(id.Packed, out PgState? pg);
                // As OnMap decides, with the interval unchanged: only where being a member and being stray disagree.
                bool stray = pg is null || pg.Phase == PgPhase.Stray;
                if (member != stray)
                {
                    continue;
                }
                pg ??= GetOrCreatePg(id);
                pg.Mapping = mapping;
                pg.IntervalEpoch = _history[id.Packed][^1].FirstEpoch;
                OnIntervalChange(pg, selfUp);
            }
        }
    }

    /// <summary>
    /// Whether the current map has this OSD's node up as the incarnation it serves as (an OSD whose node was given a
    /// newer incarnation must not act on the old one's behalf; <see cref="OnIncarnation"/>).
    /// </summary>
    private bool SelfUp()
    {
        NodeInfo? self = _placement!.FindNode(_osd);
        return self is not null && self.State == NodeState.Up && (_incarnation == 0 || self.Incarnation == _incarnation);
    }

    /// <summary>Appends an interval when the PG's acting set (or a member's incarnation) changed.</summary>
    private bool RecordInterval(ulong pg, PgMapping mapping, ulong epoch)
    {
        if (!_history.TryGetValue(pg, out List<PgInterval>? list))
        {
            list = new List<PgInterval>();
            _history[pg] = list;
        }
        PgInterval? last = list.Count > 0 ? list[^1] : null;
        bool same = last is not null && last.LastEpoch + 1 >= epoch && SameActing(last, mapping, _placement!);
        if (same)
        {
            last!.LastEpoch = epoch;
            return false;
        }
        var interval = new PgInterval
        {
            FirstEpoch = epoch,
            LastEpoch = epoch,
            MaybeWentRw = mapping.Acting.Length >= mapping.MinReplicas && mapping.Acting.Length > 0,
        };
        foreach (int osd in mapping.Acting)
        {
            interval.Acting.Add(osd);
            // Member incarnations are part of the interval: a restarted member starts a new one.
            interval.Acting.Add((int)(_placement!.FindNode(osd)?.Incarnation ?? 0));
        }
        list.Add(interval);
        while (list.Count > 64)
        {
            list.RemoveAt(0);
        }
        return true;
    }

    private static bool SameActing(PgInterval interval, PgMapping mapping, PlacementMap placement) =>
        interval.Acting.Count == mapping.Acting.Length * 2 && ActingMatches(interval, mapping, placement);

    private static bool ActingMatches(PgInterval interval, PgMapping mapping, PlacementMap placement)
    {
        for (int i = 0; i < mapping.Acting.Length; i++)
        {
            if (interval.Acting[i * 2] != mapping.Acting[i] || interval.Acting[i * 2 + 1] != (int)(placement.FindNode(mapping.Acting[i])?.Incarnation ?? 0))
            {
                return false;
            }
        }
        return interval.MaybeWentRw == (mapping.Acting.Length >= mapping.MinReplicas && mapping.Acting.Length > 0);
    }

    private void OnIntervalChange(PgState pg, bool selfUp)
    {
        PgMapping mapping = pg.Mapping!;
        // In-flight and queued client writes are kept: after re-peering they are re-dispatched, and a
        // write whose entry survived is answered from the log (request ids) once it is everywhere.
        RequeueClientOps(pg);
        pg.ActivatedThisRun = false;
        if (!selfUp || !mapping.Contains(_osd))
        {
            pg.IsPrimary = false;
            pg.Phase = PgPhase.Stray;
            pg.ResetPrimaryState();
            FailWaitingOps(pg, OsdStatus.NotPrimary);
            return;
        }
        if (mapping.Primary != _osd)
        {
            pg.IsPrimary = false;
            pg.Phase = PgPhase.ReplicaWaiting;
            pg.ResetPrimaryState();
            FailWaitingOps(pg, OsdStatus.NotPrimary);
            return;
        }
        pg.IsPrimary = true;
        StartPeering(pg);
    }

    private void StartPeering(PgState pg)
    {
        RequeueClientOps(pg);
        pg.ResetPrimaryState();
        pg.Session = NewSession(pg.IntervalEpoch);
        pg.Phase = PgPhase.Peering;
        pg.ActivatedThisRun = false;
        pg.Notifies[_osd] = BuildNotify(pg, pg.Session);
        foreach (NodeInfo node in _placement!.Map.Nodes)
        {
            if (node.State == NodeState.Up && (int)node.Id != _osd)
            {
                pg.PendingQueries.Add((int)node.Id);
            }
        }
        pg.LastSendMs = _env.NowMs;
        var query = new PgQuery { Pg = pg.Packed, Session = pg.Session, IntervalEpoch = pg.IntervalEpoch };
        foreach (int osd in pg.PendingQueries)
        {
            Send(osd, StorageMessageType.MsgPgQuery, query);
        }
        if (pg.PendingQueries.Count == 0)
        {
            EvaluatePeering(pg);
        }
    }

    private PgNotify BuildNotify(PgState? pg, ulong session, ulong packed = 0)
    {
        ulong id = pg?.Packed ?? packed;
        var notify = new PgNotify { Pg = id, Session = session, MapEpoch = _epoch };
        var info = new PgInfo { Pg = id };
        if (pg is not null)
        {
            info.LastUpdate = pg.LastUpdate;
            info.LogTail = pg.LogTail;
            info.LastEpochStarted = pg.LastEpochStarted;
            info.Exists = pg.Exists;
            foreach ((string name, ulong need) in pg.Missing)
            {
                info.Missing.Add(new MissingObject { Object = name, Need = need });
            }
        }
        notify.Info = info;
        if (_history.TryGetValue(id, out List<PgInterval>? intervals))
        {
            notify.Intervals.AddRange(intervals);
        }
        notify.Coverage.AddRange(_coverage);
        return notify;
    }

    /// <summary>Any OSD: a primary asks what we know of a PG.</summary>
    private void HandleQuery(int from, PgQuery query)
    {
        if (query.IntervalEpoch > _epoch)
        {
            // We have not seen the map that started this interval yet.
            _deferredQueries.Add((from, query));
            return;
        }
        PgId id = PgId.FromPacked(query.Pg);
        PgMapping? mapping = _placement?.Get(id);
        if (mapping is null || mapping.Primary != from)
        {
            // A stale primary: the map has moved on. (Interval start epochs are not compared: an OSD that
            // missed maps dates the current interval later than its primary does.)
            return;
        }
        _pgs.TryGetValue(query.Pg, out PgState? pg);
        if (pg is not null)
        {
            if (query.Session < pg.Session)
            {
                return;
            }
            if (query.Session == pg.Session && pg.ActivatedThisRun && !pg.IsPrimary)
            {
                // A duplicate (or late retransmission) of a query of the session we were already activated in: the
                // primary finished peering before it sent our activation and will not send it again, so resetting
                // here would leave us waiting forever while it runs active+clean (simulation seeds 953, 1405, 1895:
                // a scrub refused by such a replica, retried without end).
                Send(from, StorageMessageType.MsgPgNotify, BuildNotify(pg, query.Session, query.Pg));
                return;
            }
            // From here on, writes of older sessions are neither applied nor acknowledged.
            pg.Session = query.Session;
            pg.ActivatedThisRun = false;
            if (pg.Phase == PgPhase.ReplicaActive)
            {
                pg.Phase = PgPhase.ReplicaWaiting;
            }
        }
        Send(from, StorageMessageType.MsgPgNotify, BuildNotify(pg, query.Session, query.Pg));
    }

    private void HandleNotify(int from, PgNotify notify)
    {
        if (!_pgs.TryGetValue(notify.Pg, out PgState? pg) || !pg.IsPrimary || notify.Session != pg.Session || pg.Phase != PgPhase.Peering)
        {
            return;
        }
        if (!pg.PendingQueries.Remove(from))
        {
            return;
        }
        pg.Notifies[from] = notify;
        if (pg.PendingQueries.Count == 0)
        {
            EvaluatePeering(pg);
        }
    }

    private void EvaluatePeering(PgState pg)
    {
        PgMapping mapping = pg.Mapping!;
        ulong lesMax = 0;
        foreach (PgNotify n in pg.Notifies.Values)
        {
            lesMax = Math.Max(lesMax, n.Info.LastEpochStarted);
        }

        // 1. Every interval after lesMax that may have gone read-write needs an answer from one of
        // its members (who then proves, by its older les, that it never activated).
        var intervals = new SortedDictionary<ulong, PgInterval>();
        var coverage = new List<EpochRange>();
        foreach (PgNotify n in pg.Notifies.Values)
        {
            foreach (PgInterval interval in n.Intervals)
            {
                intervals.TryAdd(interval.FirstEpoch, interval);
            }
            coverage.AddRange(n.Coverage);
        }
        foreach (PgInterval interval in intervals.Values)
        {
            if (interval.FirstEpoch <= lesMax || interval.FirstEpoch >= pg.IntervalEpoch || !interval.MaybeWentRw)
            {
                continue;
            }
            bool heard = false;
            for (int i = 0; i < interval.Acting.Count; i += 2)
            {
                if (pg.Notifies.ContainsKey(interval.Acting[i]))
                {
                    heard = true;
                    break;
                }
            }
            if (!heard)
            {
                EnterDown(pg, $"interval from epoch {interval.FirstEpoch} may have acknowledged writes and none of its members answered");
                return;
            }
        }
        // 2. Epochs after lesMax that no answering OSD processed could hide such an interval, unless
        // every OSD of the map answered.
        bool everyoneAnswered = true;
        foreach (NodeInfo node in _placement!.Map.Nodes)
        {
            if (!pg.Notifies.ContainsKey((int)node.Id))
            {
                everyoneAnswered = false;
                break;
            }
        }
        if (!everyoneAnswered && lesMax + 1 < pg.IntervalEpoch && !Covered(coverage, lesMax + 1, pg.IntervalEpoch - 1))
        {
            EnterDown(pg, $"epochs {lesMax + 1}-{pg.IntervalEpoch - 1} are unknown to every answering OSD");
            return;
        }
        if (mapping.Acting.Length < mapping.MinReplicas)
        {
            pg.Phase = PgPhase.Undersized;
            pg.BlockedReason = $"{mapping.Acting.Length} of min {mapping.MinReplicas} replicas up";
            return;
        }

        // 3. The authoritative member.
        int auth = -1;
        ulong best = 0;
        foreach ((int osd, PgNotify n) in pg.Notifies)
        {
            if (n.Info.LastEpochStarted != lesMax)
            {
                continue;
            }
            ulong lu = n.Info.LastUpdate;
            bool better = auth < 0 || lu > best
                || (lu == best && osd == _osd)
                || (lu == best && auth != _osd && mapping.Contains(osd) && !mapping.Contains(auth))
                || (lu == best && auth != _osd && mapping.Contains(osd) == mapping.Contains(auth) && osd < auth);
            if (better)
            {
                auth = osd;
                best = lu;
            }
        }
        pg.AuthOsd = auth;
        if (auth == _osd || best == pg.LastUpdate && pg.LastEpochStarted == lesMax)
        {
            pg.AuthOsd = _osd;
            Activate(pg);
            return;
        }
        pg.Phase = PgPhase.GettingLog;
        pg.LastSendMs = _env.NowMs;
        Send(auth, StorageMessageType.MsgPgLogRequest, new PgLogRequest { Pg = pg.Packed, Session = pg.Session });
    }

    private static bool Covered(List<EpochRange> ranges, ulong first, ulong last)
    {
        ranges.Sort((a, b) => a.First.CompareTo(b.First));
        ulong next = first;
        foreach (EpochRange r in ranges)
        {
            if (r.First > next)
            {
                break;
            }
            if (r.Last >= next)
            {
                next = r.Last + 1;
            }
            if (next > last)
            {
                return true;
            }
        }
        return next > last;
    }

    private void EnterDown(PgState pg, string reason)
    {
        pg.Phase = PgPhase.Down;
        pg.BlockedReason = reason;
    }

    /// <summary>Any OSD: send the whole log of a PG to the peering primary.</summary>
    private void HandleLogRequest(int from, PgLogRequest request)
    {
        var reply = new PgLogReply { Pg = request.Pg, Session = request.Session };
        if (_pgs.TryGetValue(request.Pg, out PgState? pg))
        {
            reply.LogTail = pg.LogTail;
            reply.LastUpdate = pg.LastUpdate;
            reply.Entries.AddRange(pg.Log);
        }
        Send(from, StorageMessageType.MsgPgLogReply, reply);
    }

    private void HandleLogReply(int from, PgLogReply reply)
    {
        if (!_pgs.TryGetValue(reply.Pg, out PgState? pg) || !pg.IsPrimary || reply.Session != pg.Session || pg.Phase != PgPhase.GettingLog || from != pg.AuthOsd)
        {
            return;
        }
        pg.AuthLog = reply;
        IStoreBatch batch = _store.CreateBatch();
        if (MergeLog(pg, reply.LogTail, reply.LastUpdate, reply.Entries, batch) == MergeResult.NeedBackfill)
        {
            batch.Dispose();
            pg.Phase = PgPhase.GettingListing;
            pg.LastSendMs = _env.NowMs;
            Send(from, StorageMessageType.MsgPgListRequest, new PgListRequest { Pg = pg.Packed, Session = pg.Session });
            return;
        }
        _env.Commit(batch, null);
        Activate(pg);
    }

    private void HandleListRequest(int from, PgListRequest request)
    {
        var reply = new PgListReply { Pg = request.Pg, Session = request.Session };
        if (_pgs.TryGetValue(request.Pg, out PgState? pg))
        {
            reply.Objects.AddRange(BuildListing(pg));
        }
        Send(from, StorageMessageType.MsgPgListReply, reply);
    }

    private void HandleListReply(int from, PgListReply reply)
    {
        if (!_pgs.TryGetValue(reply.Pg, out PgState? pg) || !pg.IsPrimary || reply.Session != pg.Session || pg.Phase != PgPhase.GettingListing || pg.AuthLog is null)
        {
            return;
        }
        IStoreBatch batch = _store.CreateBatch();
        Backfill(pg, pg.AuthLog.LogTail, pg.AuthLog.LastUpdate, pg.AuthLog.Entries, reply.Objects, batch);
        _env.Commit(batch, null);
        Activate(pg);
    }

    /// <summary>The primary holds the authoritative log: persist les and bring every acting replica to it.</summary>
    private void Activate(PgState pg)
    {
        PgMapping mapping = pg.Mapping!;
        pg.Phase = PgPhase.Activating;
        pg.LastEpochStarted = pg.IntervalEpoch;
        pg.PendingActivations.Clear();
        pg.ActivationMessages.Clear();
        pg.BackfillTargets.Clear();
        List<ObjectVersion>? listing = null;
        foreach (int member in mapping.Acting)
        {
            if (member == _osd)
            {
                continue;
            }
            PgInfo info = pg.Notifies[member].Info;
            var message = new PgActivate
            {
                Pg = pg.Packed,
                Session = pg.Session,
                IntervalEpoch = pg.IntervalEpoch,
                LogTail = pg.LogTail,
                LastUpdate = pg.LastUpdate,
                MemberLastUpdate = info.LastUpdate,
            };
            if (info.LastUpdate == pg.LastUpdate)
            {
                // Same history.
            }
            else if (info.LastUpdate < pg.LogTail)
            {
                message.Backfill = true;
                message.Entries.AddRange(pg.Log);
                listing ??= BuildListing(pg);
                message.Listing.AddRange(listing);
                pg.BackfillTargets.Add(member);
            }
            else if (info.LastUpdate < pg.LastUpdate && (info.LastUpdate == pg.LogTail || pg.LogEntryAt(info.LastUpdate) is not null))
            {
                message.LogSegment = true;
                foreach (PgLogEntry e in pg.Log)
                {
                    if (e.Version > info.LastUpdate)
                    {
                        message.Entries.Add(e);
                    }
                }
            }
            else
            {
                message.Entries.AddRange(pg.Log);
            }
            pg.PendingActivations.Add(member);
            pg.ActivationMessages[member] = message;
            Send(member, StorageMessageType.MsgPgActivate, message);
        }
        pg.PendingActivations.Add(_osd);
        IStoreBatch batch = _store.CreateBatch();
        PersistInfo(pg, batch);
        ulong session = pg.Session;
        pg.LastSendMs = _env.NowMs;
        _env.Commit(batch, () =>
        {
            if (pg.Session == session && pg.Phase == PgPhase.Activating)
            {
                pg.PendingActivations.Remove(_osd);
                MaybeActive(pg);
            }
        });
    }

    private void HandleActivateReply(int from, PgActivateReply reply)
    {
        if (!_pgs.TryGetValue(reply.Pg, out PgState? pg) || !pg.IsPrimary || reply.Session != pg.Session || pg.Phase != PgPhase.Activating)
        {
            return;
        }
        if (!pg.PendingActivations.Contains(from))
        {
            return;
        }
        if (reply.Stale)
        {
            StartPeering(pg);
            return;
        }
        if (reply.NeedBackfill)
        {
            PgActivate message = pg.ActivationMessages[from].Clone();
            message.Backfill = true;
            message.Entries.Clear();
            message.Entries.AddRange(pg.Log);
            message.Listing.Clear();
            message.Listing.AddRange(BuildListing(pg));
            pg.ActivationMessages[from] = message;
            pg.BackfillTargets.Add(from);
            Send(from, StorageMessageType.MsgPgActivate, message);
            return;
        }
        var missing = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (MissingObject m in reply.Missing)
        {
            missing[m.Object] = m.Need;
        }
        pg.PeerMissing[from] = missing;
        pg.PendingActivations.Remove(from);
        MaybeActive(pg);
    }

    private void MaybeActive(PgState pg)
    {
        if (pg.PendingActivations.Count > 0)
        {
            return;
        }
        pg.Phase = PgPhase.Active;
        pg.ActivatedThisRun = true;
        pg.ActivationMessages.Clear();
        // A new primary finishes what an earlier one may have left of snap trim.
        pg.TrimScanNeeded |= _placement!.Map.NextSnapId > 1;
        // Re-dispatch what waited for activation, in arrival order.
        int count = pg.Waiting.Count;
        for (int i = 0; i < count && pg.Phase == PgPhase.Active; i++)
        {
            Dispatch(pg, pg.Waiting.Dequeue());
        }
        ScheduleRecovery();
    }

    private void RetransmitPeering(PgState pg, long now)
    {
        if (!pg.IsPrimary || now - pg.LastSendMs < _options.RetransmitMs)
        {
            return;
        }
        switch (pg.Phase)
        {
            case PgPhase.Peering:
                pg.LastSendMs = now;
                var query = new PgQuery { Pg = pg.Packed, Session = pg.Session, IntervalEpoch = pg.IntervalEpoch };
                foreach (int osd in pg.PendingQueries)
                {
                    Send(osd, StorageMessageType.MsgPgQuery, query);
                }
                break;
            case PgPhase.GettingLog:
                pg.LastSendMs = now;
                Send(pg.AuthOsd, StorageMessageType.MsgPgLogRequest, new PgLogRequest { Pg = pg.Packed, Session = pg.Session });
                break;
            case PgPhase.GettingListing:
                pg.LastSendMs = now;
                Send(pg.AuthOsd, StorageMessageType.MsgPgListRequest, new PgListRequest { Pg = pg.Packed, Session = pg.Session });
                break;
            case PgPhase.Activating:
                pg.LastSendMs = now;
                foreach (int osd in pg.PendingActivations)
                {
                    if (pg.ActivationMessages.TryGetValue(osd, out PgActivate? message))
                    {
                        Send(osd, StorageMessageType.MsgPgActivate, message);
                    }
                }
                break;
        }
    }

    /// <summary>A stray is told to drop its copy once the PG is clean elsewhere.</summary>
    private void HandlePgRemove(int from, PgRemove remove)
    {
        if (!_pgs.TryGetValue(remove.Pg, out PgState? pg) || remove.IntervalEpoch > _epoch)
        {
            return;
        }
        PgMapping? mapping = _placement?.Get(pg.Id);
        if (mapping is null || mapping.Contains(_osd) || mapping.Primary != from)
        {
            return;
        }
        DeletePgData(pg);
    }
}
