using Fabric.Core.Collections;
using Fabric.Core.Placement;
using Microsoft.Extensions.Logging;

namespace Fabric.Client.Objects;

// Slow-op reports: the client's half of "N slow ops, oldest one blocked for X sec".
//
// Every op is added, at submit, at the young end of a list threaded through the ops themselves (IntrusiveList)
// and removed when it completes, so the list holds exactly the outstanding ops (in _byTid, parked, or a read
// whose data is being received), oldest first. Nothing is allocated for it and nothing is scanned on the data
// path: the oldest op is the head, and a check walks from the head only while ops are older than the
// threshold. An op that left every queue without completing would still be on the list and be reported:
// that is the case these reports exist for.
public sealed partial class ObjectClient
{
    private readonly long _slowOpMs;
    private readonly IntrusiveList<PendingOp> _outstanding = new();
    private long _nextSlowCheckMs;

    /// <summary>The age of the oldest outstanding op (zero when none is outstanding).</summary>
    public TimeSpan OldestOpAge
    {
        get
        {
            lock (_lock)
            {
                return _outstanding.Oldest is not PendingOp oldest ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Max(0, _transport.NowMs - oldest.SubmittedMs));
            }
        }
    }

    /// <summary>Every outstanding op submitted at least <paramref name="olderThan"/> ago, oldest first.</summary>
    public IReadOnlyList<SlowObjectOp> SlowOps(TimeSpan olderThan)
    {
        var slow = new List<SlowObjectOp>();
        lock (_lock)
        {
            long now = _transport.NowMs;
            long minAgeMs = (long)olderThan.TotalMilliseconds;
            for (PendingOp? op = _outstanding.Oldest; op is not null && now - op.SubmittedMs >= minAgeMs; op = op.Newer)
            {
                slow.Add(DescribeLocked(op, now));
            }
        }
        return slow;
    }

    /// <summary>
    /// Logs, at Warning, each op whose age crossed another multiple of the slow-op threshold since it was last
    /// reported (at most <see cref="SlowOpThreshold.MaxLinesPerCheck"/> lines, oldest first), and a summary line
    /// when any did. <see cref="Tick"/> calls it every <see cref="SlowOpThreshold.CheckIntervalMs"/>; it allocates
    /// nothing when no op is due.
    /// </summary>
    public void CheckSlowOps()
    {
        if (_slowOpMs <= 0)
        {
            return;
        }
        List<SlowObjectOp>? lines = null;
        int slow = 0, due = 0;
        TimeSpan oldest = TimeSpan.Zero;
        lock (_lock)
        {
            long now = _transport.NowMs;
            _nextSlowCheckMs = now + SlowOpThreshold.CheckEveryMs(_slowOpMs);
            for (PendingOp? op = _outstanding.Oldest; op is not null; op = op.Newer)
            {
                long age = now - op.SubmittedMs;
                if (age < _slowOpMs)
                {
                    break; // Submission order: every op after this one is younger.
                }
                if (slow++ == 0)
                {
                    oldest = TimeSpan.FromMilliseconds(age);
                }
                int crossings = (int)Math.Min(int.MaxValue, age / _slowOpMs);
                if (crossings <= op.SlowReports)
                {
                    continue;
                }
                op.SlowReports = crossings;
                if (due++ < SlowOpThreshold.MaxLinesPerCheck && _logger.IsEnabled(LogLevel.Warning))
                {
                    (lines ??= new List<SlowObjectOp>()).Add(DescribeLocked(op, now));
                }
            }
        }
        if (due == 0 || lines is null)
        {
            return;
        }
        // Logged outside the lock: a slow log sink must not hold up completions.
        foreach (SlowObjectOp op in lines)
        {
            LogSlowOp(_logger, Identity, op.Kind, op.Object, op.Pg?.ToString() ?? "none", Math.Round(op.Age.TotalSeconds, 1),
                op.Osd, op.Epoch, op.Sends, op.Tid, op.Detail);
        }
        LogSlowSummary(_logger, Identity, slow, Math.Round(oldest.TotalSeconds, 1), SlowOpThreshold.NotShownText(due - lines.Count));
    }

    private SlowObjectOp DescribeLocked(PendingOp op, long now)
    {
        PgMapping? mapping = MappingOf(op);
        PgId? pg = op.Pg ?? mapping?.Pg;
        string osd = $"osd.{op.TargetOsd}";
        string detail = op.Wait switch
        {
            ObjectOpWait.NoMap => "a cluster map (none received yet)",
            ObjectOpWait.NoPool => $"a map with pool {op.Request.Pool} (not in map epoch {_placement?.Epoch ?? 0})",
            ObjectOpWait.NoPrimary => $"a primary: no member of pg {pg?.ToString() ?? "?"} is up in map epoch {_placement?.Epoch ?? 0}",
            ObjectOpWait.PrimaryUnknown => $"the address of primary osd.{mapping?.Primary ?? -1}: no such node in map epoch {_placement?.Epoch ?? 0}",
            ObjectOpWait.NewerMap => $"map epoch {op.NeedEpoch} ({osd} has it, this client has {_placement?.Epoch ?? 0})",
            ObjectOpWait.OsdMapBehind => $"{osd} to act as primary: it answered not-primary with a map no newer than ours (epoch {_placement?.Epoch ?? 0}); retrying every 50 ms",
            ObjectOpWait.ConnectionLost => $"a new connection to {osd}: the last one dropped with the op outstanding; resend pending",
            ObjectOpWait.ReplyData => $"the data of {osd}'s read reply",
            _ => $"a reply from {osd}",
        };
        if ((op.Wait is ObjectOpWait.Reply or ObjectOpWait.ConnectionLost or ObjectOpWait.OsdMapBehind) && mapping is not null)
        {
            if (mapping.Primary != op.TargetOsd)
            {
                // Sent to a primary the newest map no longer names: OnMap should have resent it.
                detail += $"; map epoch {_placement!.Epoch} names osd.{mapping.Primary} as primary";
            }
            if (mapping.Acting.Length < mapping.MinReplicas)
            {
                detail += $"; pg {mapping.Pg} has {mapping.Acting.Length} of min_replicas {mapping.MinReplicas} members up: the primary holds its ops until enough are";
            }
        }
        return new SlowObjectOp(op.Request.Object, pg, op.Request.Kind, op.TargetOsd, op.SentEpoch, op.Sends, op.Tid,
            TimeSpan.FromMilliseconds(Math.Max(0, now - op.SubmittedMs)), op.Wait, detail);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
        Message = "{Client}: slow op {Kind} {Object} pg {Pg} blocked for {AgeSeconds} s: last sent to osd.{Osd} with map epoch {Epoch} ({Sends} sends, tid {Tid}); waiting for {Detail}")]
    private static partial void LogSlowOp(ILogger logger, string client, Fabric.Proto.OsdOpKind kind, string @object, string pg, double ageSeconds,
        int osd, ulong epoch, int sends, ulong tid, string detail);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "{Client}: {Count} slow ops, oldest one blocked for {OldestSeconds} s{NotShown}")]
    private static partial void LogSlowSummary(ILogger logger, string client, int count, double oldestSeconds, string notShown);
}
