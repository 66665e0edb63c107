using System.Diagnostics;
using System.Text;
using Fabric.Client.Objects;
using Fabric.Core.Collections;
using Fabric.Core.Placement;
using Fabric.Proto;
using Microsoft.Extensions.Logging;

namespace Fabric.Storage.Osd;

// Slow-op reports: the OSD's half of "N slow ops, oldest one blocked for X sec".
//
// Every client op is added, when it arrives, at the young end of a list threaded through the ops themselves
// (IntrusiveList), and removed by Reply, the one way an op leaves the OSD. The list therefore holds exactly the
// ops accepted and not yet answered, oldest first, wherever they are parked: waiting for a map, in the PG's
// queue while it peers or is below min_replicas, in flight to the replicas, behind an object's recovery or
// earlier writes, or behind a scrub chunk. Tracking costs two pointer updates per op and allocates nothing;
// the check (every few seconds, from Tick) walks from the head only while ops are older than the threshold,
// and looks up where a slow op is parked only when it reports it. An op on the list that no queue holds is
// reported as such (OsdOpWait.NotHeld): a lost op, which is what these reports exist to reveal.
public sealed partial class OsdCore
{
    private readonly ILogger _logger;
    private readonly IntrusiveList<PendingClientOp> _unanswered = new();

    /// <summary>The unanswered ops of identified clients by request id: the first copy of each request.</summary>
    private readonly Dictionary<(string Client, ulong Seq), PendingClientOp> _unansweredByRequest = new();
    private long _nextSlowCheckMs;

    /// <summary>The age of the oldest client op accepted and not answered (zero when none is).</summary>
    public TimeSpan OldestOpAge =>
        _unanswered.Oldest is not PendingClientOp oldest ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Max(0, _env.NowMs - oldest.ReceivedMs));

    /// <summary>Every client op accepted at least <paramref name="olderThan"/> ago and not answered, oldest first.</summary>
    public IReadOnlyList<SlowOsdOp> SlowOps(TimeSpan olderThan) => SlowOps(olderThan, int.MaxValue, out _);

    /// <summary>The oldest <paramref name="limit"/> of them, and how many there are in all: only those listed are
    /// described (a description looks at the op's PG), so listing a few of thousands of stuck ops stays cheap.</summary>
    private List<SlowOsdOp> SlowOps(TimeSpan olderThan, int limit, out int matched)
    {
        long now = _env.NowMs;
        long minAgeMs = (long)olderThan.TotalMilliseconds;
        var slow = new List<SlowOsdOp>();
        matched = 0;
        for (PendingClientOp? op = _unanswered.Oldest; op is not null && now - op.ReceivedMs >= minAgeMs; op = op.Newer)
        {
            if (matched++ < limit)
            {
                slow.Add(Describe(op, now));
            }
        }
        return slow;
    }

    /// <summary>How many ops <see cref="ListOps"/> returns when the request sets no limit.</summary>
    public const int DefaultListedOps = 100;

    /// <summary>
    /// The ops of <see cref="SlowOps"/> for the ListOps RPC (`fabric osd ops`): at most the request's limit, the oldest,
    /// with how many matched in all and the resend counters.
    /// </summary>
    public ListOsdOpsReply ListOps(ListOsdOpsRequest request)
    {
        double olderThan = double.IsFinite(request.OlderThanSeconds) ? Math.Max(0, request.OlderThanSeconds) : 0;
        int limit = request.Limit == 0 ? DefaultListedOps : (int)Math.Min(request.Limit, 100_000);
        List<SlowOsdOp> ops = SlowOps(TimeSpan.FromSeconds(olderThan), limit, out int matched);
        var reply = new ListOsdOpsReply
        {
            Osd = _osd, MapEpoch = _epoch, Matched = (uint)matched, MergedResends = (ulong)MergedResends,
            RefusedRequestIds = (ulong)RefusedRequestIds,
        };
        foreach (SlowOsdOp op in ops)
        {
            reply.Ops.Add(new OsdOpInFlight
            {
                Object = op.Object, Pg = op.Pg.ToString(), PgState = op.PgState, Client = op.Client, Tid = op.Tid,
                Kind = OsdOpTexts.Kind(op.Kind), OpEpoch = op.OpEpoch, OsdEpoch = op.OsdEpoch, AgeSeconds = op.Age.TotalSeconds,
                Wait = OsdOpTexts.Wait(op.Wait), Detail = op.Detail,
            });
        }
        return reply;
    }

    /// <summary>
    /// Logs, at Warning, each op whose age crossed another multiple of <see cref="OsdOptions.SlowOpMs"/> since it was
    /// last reported (at most <see cref="SlowOpThreshold.MaxLinesPerCheck"/> lines, oldest first), and a summary line
    /// when any did. <see cref="Tick"/> calls it every <see cref="SlowOpThreshold.CheckIntervalMs"/>.
    /// </summary>
    public void CheckSlowOps()
    {
        long threshold = _options.SlowOpMs;
        if (threshold <= 0)
        {
            return;
        }
        long now = _env.NowMs;
        _nextSlowCheckMs = now + SlowOpThreshold.CheckEveryMs(threshold);
        int slow = 0, due = 0;
        long oldestMs = 0;
        for (PendingClientOp? op = _unanswered.Oldest; op is not null; op = op.Newer)
        {
            long age = now - op.ReceivedMs;
            if (age < threshold)
            {
                break; // Arrival order: every op after this one is younger.
            }
            if (slow++ == 0)
            {
                oldestMs = age;
            }
            int crossings = (int)Math.Min(int.MaxValue, age / threshold);
            if (crossings <= op.SlowReports)
            {
                continue;
            }
            op.SlowReports = crossings;
            if (due++ < SlowOpThreshold.MaxLinesPerCheck && _logger.IsEnabled(LogLevel.Warning))
            {
                SlowOsdOp d = Describe(op, now);
                LogSlowOp(_logger, _osd, d.Kind, d.Object, d.Client, d.Tid, d.Pg.ToString(), d.PgState, Math.Round(d.Age.TotalSeconds, 1),
                    d.Detail, d.OpEpoch, d.OsdEpoch);
            }
        }
        if (due > 0)
        {
            LogSlowSummary(_logger, _osd, slow, Math.Round(oldestMs / 1000.0, 1), SlowOpThreshold.NotShownText(due - SlowOpThreshold.MaxLinesPerCheck));
        }
    }

    private void Track(PendingClientOp op)
    {
        op.ReceivedMs = _env.NowMs;
        op.ReceivedTimestamp = Stopwatch.GetTimestamp();
        _unanswered.AddNewest(op);
        if (op.Client.Length > 0)
        {
            // The first copy of a request stays the one found here; a resend supersedes into it (SupersedeEarlierCopy).
            _unansweredByRequest.TryAdd((op.Client, op.Op.RequestSeq), op);
        }
    }

    /// <summary>Called by every reply; the OSD's own ops (snap trim) were never tracked, and removing them does nothing.</summary>
    private void Untrack(PendingClientOp op, OsdStatus status)
    {
        _unanswered.Remove(op);
        if (op.Client.Length > 0 && _unansweredByRequest.TryGetValue((op.Client, op.Op.RequestSeq), out PendingClientOp? indexed) && indexed == op)
        {
            _unansweredByRequest.Remove((op.Client, op.Op.RequestSeq));
        }
        if (op.ReceivedTimestamp != 0 && status == OsdStatus.Ok)
        {
            (op.IsWrite ? Perf.WriteOp : Perf.ReadOp).RecordSince(op.ReceivedTimestamp);
        }
    }

    private SlowOsdOp Describe(PendingClientOp op, long now)
    {
        ClientOp c = op.Op;
        var id = new PgId(c.Pool, c.PgSeed);
        _pgs.TryGetValue(id.Packed, out PgState? pg);
        (OsdOpWait wait, string detail) = Locate(op, pg);
        string state = pg is null ? "none" : StateText(pg);
        return new SlowOsdOp(c.Object, id, state, op.Client, c.Tid, c.Kind, c.MapEpoch, _epoch,
            TimeSpan.FromMilliseconds(Math.Max(0, now - op.ReceivedMs)), wait, detail);
    }

    /// <summary>Where an unanswered op is parked and what would release it: a search of the places that hold ops
    /// (only for ops being reported, so the data path keeps no state for it).</summary>
    private (OsdOpWait Wait, string Detail) Locate(PendingClientOp op, PgState? pg)
    {
        if (_waitingForMap.Contains(op))
        {
            return (OsdOpWait.NewerMap, $"map epoch {op.Op.MapEpoch} (this OSD has {_epoch})");
        }
        if (pg is null)
        {
            return (OsdOpWait.NotHeld, "nothing: this OSD holds no such PG, yet the op was never answered");
        }
        if (pg.Waiting.Contains(op))
        {
            return pg.Phase switch
            {
                PgPhase.Peering => (OsdOpWait.Peering, $"peering: PG queries unanswered by {Osds(pg.PendingQueries)} (session {pg.Session:x})"),
                PgPhase.GettingLog => (OsdOpWait.Peering, $"peering: the authoritative log from osd.{pg.AuthOsd}"),
                PgPhase.GettingListing => (OsdOpWait.Peering, $"peering: the object listing from osd.{pg.AuthOsd}"),
                PgPhase.Activating => (OsdOpWait.Peering, $"peering: activation not yet persisted by {Osds(pg.PendingActivations)}"),
                PgPhase.Down => (OsdOpWait.PgDown, $"the PG to leave down: {pg.BlockedReason}"),
                PgPhase.Undersized => (OsdOpWait.MinReplicas, $"min_replicas: {pg.BlockedReason} (acting [{string.Join(",", pg.Mapping?.Acting ?? [])}])"),
                _ => (OsdOpWait.PgQueue, $"its turn in the PG's queue (phase {pg.Phase}, {pg.Waiting.Count} queued)"),
            };
        }
        foreach (InFlightWrite write in pg.InFlight.Values)
        {
            if (ReferenceEquals(write.Op, op) || write.Duplicates.Contains(op))
            {
                string own = write.Waiting.Contains(_osd) ? " (including this OSD's own commit)" : "";
                return (OsdOpWait.ReplicaAcks, $"replicas not acked: {Osds(write.Waiting)}{own} for version {write.Entry.Version:x}, "
                    + $"last sent {Math.Max(0, _env.NowMs - write.SentMs)} ms ago");
            }
        }
        string name = op.Op.Object;
        if (pg.ObjectWaiters.TryGetValue(name, out List<PendingClientOp>? waiters) && waiters.Contains(op))
        {
            if (pg.Unfound.Contains(name))
            {
                return (OsdOpWait.ObjectRecovery, "recovery of the object, unfound: no up member holds the version needed");
            }
            if (pg.IsMissingAnywhere(name))
            {
                var missingOn = new List<int>();
                if (pg.Missing.ContainsKey(name))
                {
                    missingOn.Add(_osd);
                }
                foreach ((int osd, Dictionary<string, ulong> missing) in pg.PeerMissing)
                {
                    if (missing.ContainsKey(name))
                    {
                        missingOn.Add(osd);
                    }
                }
                string running = pg.Recovering.TryGetValue(name, out RecoveryOp? recovery)
                    ? $"recovering ({(recovery.Pulling ? $"pulling from osd.{recovery.Source}" : $"pushing to {Osds(recovery.PushTargets)}")})"
                    : "recovery not started";
                return (OsdOpWait.ObjectRecovery, $"recovery of the object, missing on {Osds(missingOn)}: {running}");
            }
            if (pg.ObjectWrites.TryGetValue(name, out int writes))
            {
                return (OsdOpWait.ObjectWrites, $"{writes} earlier write(s) to the object to be acknowledged");
            }
            return (OsdOpWait.ObjectWrites, "a wake-up of the object's waiters (neither missing nor written any more)");
        }
        if (pg.ScrubBlocked.Contains(op))
        {
            return (OsdOpWait.ScrubChunk, $"the scrub of the chunk holding the object (scrub {pg.Scrub?.Id ?? 0})");
        }
        return (OsdOpWait.NotHeld, $"nothing: no queue of the PG holds it (phase {pg.Phase}, primary {pg.IsPrimary}), yet it was never answered");
    }

    private static string Osds(IEnumerable<int> osds)
    {
        var text = new StringBuilder();
        foreach (int osd in osds.Order())
        {
            text.Append(text.Length == 0 ? "" : ",").Append("osd.").Append(osd);
        }
        return text.Length == 0 ? "none" : text.ToString();
    }

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning,
        Message = "osd.{Osd}: slow op {Kind} {Object} from {Client} tid {Tid}, pg {Pg} {PgState}, blocked for {AgeSeconds} s: waiting for {Detail}; op map epoch {OpEpoch}, osd map epoch {OsdEpoch}")]
    private static partial void LogSlowOp(ILogger logger, int osd, OsdOpKind kind, string @object, string client, ulong tid, string pg, string pgState,
        double ageSeconds, string detail, ulong opEpoch, ulong osdEpoch);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning,
        Message = "osd.{Osd}: {Count} slow ops, oldest one blocked for {OldestSeconds} s{NotShown}")]
    private static partial void LogSlowSummary(ILogger logger, int osd, int count, double oldestSeconds, string notShown);
}
