using System.Buffers.Binary;
using Fabric.Core.Time;
using Fabric.Proto;
using Fabric.Storage.Store;

namespace Fabric.Storage.Osd;

/// <summary>Status snapshots for `fabric pg list`, `fabric status`, `fabric osd perf` and the admin service.</summary>
public sealed partial class OsdCore
{
    public ListPgsReply ListPgs(ListPgsRequest request)
    {
        var reply = new ListPgsReply { MapEpoch = _epoch, Osd = _osd };
        foreach (PgState pg in _pgs.Values.OrderBy(p => p.Id))
        {
            if (request.Pool != 0 && pg.Id.Pool != request.Pool)
            {
                continue;
            }
            if (request.PrimaryOnly && !pg.IsPrimary)
            {
                continue;
            }
            reply.Pgs.Add(BuildPgStatus(pg));
        }
        return reply;
    }

    public OsdStatusReply GetStatus()
    {
        var reply = new OsdStatusReply
        {
            Osd = _osd,
            MapEpoch = _epoch,
            UsedBytes = (ulong)Math.Max(0, _store.UsedBytes),
            TotalBytes = (ulong)Math.Max(_store.TotalBytes, 0),
            Pgs = (uint)_pgs.Count,
            ClientOps = (ulong)ClientOps,
            RecoveredObjects = (ulong)RecoveredObjects,
            FencedWrites = (ulong)FencedWrites,
            ScrubbedBytes = (ulong)ScrubbedBytes,
            ScrubbedObjects = (ulong)ScrubbedObjects,
        };
        if (_options.SlowOpMs > 0)
        {
            var slow = SlowOps(TimeSpan.FromMilliseconds(_options.SlowOpMs));
            reply.SlowOps = (uint)slow.Count;
            if (slow.Count > 0)
            {
                SlowOsdOp oldest = slow[0];
                reply.OldestSlowOpSeconds = oldest.Age.TotalSeconds;
                reply.OldestSlowOp = $"{oldest.Kind} {oldest.Object} from {oldest.Client}, pg {oldest.Pg} {oldest.PgState}: {oldest.Detail}";
            }
        }
        // Every stage, counted or not: `fabric osd perf` then shows the same columns for an idle OSD as for a busy one.
        foreach ((string stage, LatencyHistogram histogram) in Perf.Stages())
        {
            reply.Stages.Add(new OsdStageLatency
            {
                Stage = stage,
                Count = (ulong)histogram.Count,
                SumSeconds = histogram.SumMicros / 1e6,
                P50Seconds = histogram.PercentileMicros(0.5) / 1e6,
                P99Seconds = histogram.PercentileMicros(0.99) / 1e6,
            });
        }
        foreach (PgState pg in _pgs.Values)
        {
            if (!pg.IsPrimary)
            {
                continue;
            }
            reply.PrimaryPgs++;
            reply.DegradedObjects += (ulong)pg.DegradedCount();
            reply.InconsistentObjects += (ulong)pg.Inconsistent.Count;
            string state = StateText(pg);
            reply.PgStates[state] = reply.PgStates.GetValueOrDefault(state) + 1;
        }
        return reply;
    }

    /// <summary>True when every PG this OSD is primary of is active+clean (tests wait on it).</summary>
    public bool AllPrimaryPgsClean()
    {
        foreach (PgState pg in _pgs.Values)
        {
            if (pg.IsPrimary && StateText(pg) != "active+clean")
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>What a running scrub of a PG waits for (simulation failure reports).</summary>
    internal string DescribeScrub(string pgText)
    {
        PgState? pg = _pgs.Values.FirstOrDefault(p => p.Id.ToString() == pgText);
        if (pg?.Scrub is not { } job)
        {
            return "no scrub";
        }
        string held = string.Join(",", pg.ObjectWrites.Where(w => InRange(w.Key, job.Start, job.End)).Select(w => $"{w.Key}x{w.Value}"));
        return $"scrub {job.Id} session {job.Session} (pg session {pg.Session}) chunk [{job.Start}, {job.End ?? "end"}) active={job.ChunkActive} sent={job.Sent} "
            + $"waiting for [{string.Join(",", job.Waiting)}] maps from [{string.Join(",", job.Maps.Keys)}] writes held in the chunk: {(held.Length == 0 ? "none" : held)}; "
            + $"in flight: {pg.InFlight.Count}";
    }

    /// <summary>This OSD's view of a PG it holds, primary or not (simulation failure reports).</summary>
    internal string DescribeMember(ulong packedPg) =>
        _pgs.TryGetValue(packedPg, out PgState? pg)
            ? $"osd.{_osd}: {(pg.IsPrimary ? "primary" : "replica")} phase {pg.Phase} session {pg.Session} activated {pg.ActivatedThisRun}"
            : $"osd.{_osd}: does not hold it";

    /// <summary>What recovery of a PG waits for (simulation failure reports).</summary>
    internal string DescribeRecovery(string pgText)
    {
        PgState? pg = _pgs.Values.FirstOrDefault(p => p.Id.ToString() == pgText);
        if (pg is null)
        {
            return "no such pg";
        }
        var sb = new System.Text.StringBuilder();
        sb.Append($"missing here: {string.Join(",", pg.Missing.Select(m => $"{m.Key}@{m.Value:x}"))}; ");
        foreach ((int osd, Dictionary<string, ulong> missing) in pg.PeerMissing)
        {
            sb.Append($"osd.{osd} missing: {string.Join(",", missing.Select(m => $"{m.Key}@{m.Value:x}"))}; ");
        }
        foreach (RecoveryOp op in pg.Recovering.Values)
        {
            sb.Append($"recovering {op.Name}: pulling={op.Pulling} source={op.Source} tried={string.Join(",", op.TriedSources)} targets={string.Join(",", op.PushTargets)} started={op.StartedMs}; ");
        }
        sb.Append($"unfound: {string.Join(",", pg.Unfound)}; urgent: {string.Join(",", pg.UrgentRecovery)}; repair sources: {string.Join(",", pg.RepairSources)}; now {_env.NowMs}");
        return sb.ToString();
    }

    internal PgStatus BuildPgStatus(PgState pg)
    {
        var status = new PgStatus
        {
            Pg = pg.Id.ToString(),
            State = StateText(pg),
            Primary = pg.Mapping?.Primary ?? -1,
            DegradedObjects = (ulong)pg.DegradedCount(),
            LogHead = pg.LastUpdate,
            LogTail = pg.LogTail,
            LastEpochStarted = pg.LastEpochStarted,
            IntervalEpoch = pg.IntervalEpoch,
            LogEntries = (uint)pg.Log.Count,
            Scrubs = pg.ScrubsDone,
            DeepScrubs = pg.DeepScrubsDone,
            ScrubErrors = (ulong)pg.Inconsistent.Values.Sum(o => Math.Max(1, o.Errors.Count)),
            Reason = pg.Phase switch
            {
                PgPhase.Peering => "waiting for osd " + string.Join(",", pg.PendingQueries),
                PgPhase.GettingLog or PgPhase.GettingListing => $"waiting for osd {pg.AuthOsd}",
                PgPhase.Activating => "activating osd " + string.Join(",", pg.PendingActivations),
                _ => pg.BlockedReason,
            },
        };
        status.InconsistentObjects.AddRange(pg.Inconsistent.Keys);
        if (pg.Mapping is not null)
        {
            status.Up.AddRange(pg.Mapping.Placement.Where(o => _placement!.IsUp(o)));
            status.Acting.AddRange(pg.Mapping.Acting);
            foreach (int osd in pg.Mapping.Placement)
            {
                if (!_placement!.IsUp(osd))
                {
                    continue;
                }
            }
        }
        Span<byte> prefix = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(prefix, StoreKeys.ObjectKind, pg.Packed);
        ulong objects = 0, bytes = 0;
        _store.Scan(prefix[..n], (key, value) =>
        {
            objects++;
            if (value.Length >= ObjectHead.BaseSize)
            {
                bytes += BinaryPrimitives.ReadUInt64LittleEndian(value[8..]);
            }
            return true;
        });
        status.Objects = objects;
        status.Bytes = bytes;
        return status;
    }

    private static string StateText(PgState pg)
    {
        if (!pg.IsPrimary)
        {
            return pg.Phase switch
            {
                PgPhase.ReplicaActive => "replica",
                PgPhase.ReplicaWaiting => "replica+waiting",
                _ => "stray",
            };
        }
        switch (pg.Phase)
        {
            case PgPhase.Peering:
            case PgPhase.GettingLog:
            case PgPhase.GettingListing:
            case PgPhase.Activating:
                return "peering";
            case PgPhase.Down:
                return "down";
            case PgPhase.Undersized:
                return "undersized+degraded+peered";
        }
        var parts = new List<string> { "active" };
        bool undersized = pg.Mapping!.Acting.Length < pg.Mapping.Replicas;
        long degraded = pg.DegradedCount();
        if (!undersized && degraded == 0 && pg.Recovering.Count == 0)
        {
            parts.Add("clean");
            AddScrubStates(pg, parts);
            return string.Join('+', parts);
        }
        if (undersized)
        {
            parts.Add("undersized");
        }
        if (undersized || degraded > 0)
        {
            parts.Add("degraded");
        }
        bool backfilling = false;
        foreach (int target in pg.BackfillTargets)
        {
            if (pg.PeerMissing.TryGetValue(target, out var missing) && missing.Count > 0)
            {
                backfilling = true;
            }
        }
        if (backfilling)
        {
            parts.Add("backfilling");
        }
        else if (degraded > 0)
        {
            parts.Add("recovering");
        }
        if (pg.Unfound.Count > 0)
        {
            parts.Add("recovery_unfound");
        }
        AddScrubStates(pg, parts);
        return string.Join('+', parts);
    }

    /// <summary>Ceph's scrub words: scrubbing[+deep][+repair] while a scrub runs, inconsistent while findings stand.</summary>
    private static void AddScrubStates(PgState pg, List<string> parts)
    {
        if (pg.Scrub is { } job)
        {
            parts.Add("scrubbing");
            if (job.Deep)
            {
                parts.Add("deep");
            }
            if (job.Repair)
            {
                parts.Add("repair");
            }
        }
        if (pg.Inconsistent.Count > 0)
        {
            parts.Add("inconsistent");
        }
    }
}
