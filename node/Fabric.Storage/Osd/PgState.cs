using Fabric.Client.Messaging;
using Fabric.Core.Collections;
using Fabric.Core.Placement;
using Fabric.Proto;

namespace Fabric.Storage.Osd;

/// <summary>One PG as one OSD holds it: persisted info and log, and the runtime state of its role.</summary>
internal sealed class PgState
{
    public PgState(PgId id)
    {
        Id = id;
        Packed = id.Packed;
    }

    public PgId Id { get; }

    public ulong Packed { get; }

    // ---- persisted ----
    public ulong LastUpdate;
    public ulong LogTail;
    public ulong LastEpochStarted;
    public bool Exists;
    public readonly List<PgLogEntry> Log = new();

    /// <summary>The fields of the PG info record as last put in a batch or loaded, apart from LastUpdate (see
    /// OsdCore.PersistInfoAfterAppend); null while there is no record. While they are unchanged, a write need not put
    /// the record again.</summary>
    public (ulong LogTail, ulong LastEpochStarted)? PersistedInfo;

    /// <summary>The log entry at <paramref name="version"/>, if the log still holds it (binary search: the log is in version order).</summary>
    public PgLogEntry? LogEntryAt(ulong version)
    {
        int lo = 0, hi = Log.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ulong v = Log[mid].Version;
            if (v == version)
            {
                return Log[mid];
            }
            if (v < version)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return null;
    }
    public readonly Dictionary<(string Client, ulong Seq), ulong> RequestIds = new();
    /// <summary>Objects this OSD lacks (or holds at a wrong version) → the version needed.</summary>
    public readonly Dictionary<string, ulong> Missing = new(StringComparer.Ordinal);

    // ---- mapping ----
    public PgMapping? Mapping;
    public ulong IntervalEpoch;
    public PgPhase Phase = PgPhase.Stray;
    public ulong Session;
    public bool IsPrimary;

    // ---- primary: peering ----
    public readonly Dictionary<int, PgNotify> Notifies = new();
    public readonly HashSet<int> PendingQueries = new();
    public long LastSendMs;
    public int AuthOsd = -1;
    public PgLogReply? AuthLog;
    public readonly HashSet<int> PendingActivations = new();
    public readonly Dictionary<int, PgActivate> ActivationMessages = new();
    public readonly HashSet<int> BackfillTargets = new();
    public string BlockedReason = "";

    // ---- primary: active ----
    public readonly Dictionary<int, Dictionary<string, ulong>> PeerMissing = new();
    public readonly SortedDictionary<ulong, InFlightWrite> InFlight = new();
    public readonly Dictionary<(string Client, ulong Seq), InFlightWrite> InFlightByRequest = new();
    public readonly Dictionary<string, int> ObjectWrites = new(StringComparer.Ordinal);
    public readonly Queue<PendingClientOp> Waiting = new();
    public readonly Dictionary<string, List<PendingClientOp>> ObjectWaiters = new(StringComparer.Ordinal);
    public readonly Dictionary<string, RecoveryOp> Recovering = new(StringComparer.Ordinal);
    public readonly HashSet<string> Unfound = new(StringComparer.Ordinal);
    public readonly List<string> UrgentRecovery = new();
    public long UnfoundRetryMs;

    // ---- replica ----
    public bool ActivatedThisRun;
    public ulong DurableVersion;

    // ---- primary: scrub (OsdCore.Scrub.cs) ----
    public ScrubJob? Scrub;
    /// <summary>A requested scrub not started yet (waits for active+clean and a free scrub slot).</summary>
    public ScrubJob? PendingScrub;
    /// <summary>Writes held while a scrub chunk covering their object is compared.</summary>
    public readonly List<PendingClientOp> ScrubBlocked = new();
    public long NextScrubMs = -1;
    public long NextDeepScrubMs = -1;
    public ulong ScrubsDone;
    public ulong DeepScrubsDone;
    /// <summary>Objects the last scrubs found inconsistent (persisted under 'X').</summary>
    public readonly SortedDictionary<string, InconsistentObject> Inconsistent = new(StringComparer.Ordinal);
    /// <summary>Repairs in progress: object → the member holding the authoritative copy.</summary>
    public readonly Dictionary<string, int> RepairSources = new(StringComparer.Ordinal);

    // ---- primary: snap trim (OsdCore.Snapshots.cs) ----
    public bool TrimScanNeeded;
    public readonly Queue<(string Object, ulong Clone)> TrimQueue = new();
    public int TrimsInFlight;

    public bool IsMissingAnywhere(string name)
    {
        if (Missing.ContainsKey(name))
        {
            return true;
        }
        foreach (Dictionary<string, ulong> missing in PeerMissing.Values)
        {
            if (missing.ContainsKey(name))
            {
                return true;
            }
        }
        return false;
    }

    public long DegradedCount()
    {
        long count = Missing.Count;
        foreach (Dictionary<string, ulong> missing in PeerMissing.Values)
        {
            count += missing.Count;
        }
        return count;
    }

    public void AddLogEntry(PgLogEntry entry)
    {
        Log.Add(entry);
        if (entry.Client.Length > 0)
        {
            RequestIds[(entry.Client, entry.RequestSeq)] = entry.Version;
        }
    }

    public void ResetPrimaryState()
    {
        Notifies.Clear();
        PendingQueries.Clear();
        AuthOsd = -1;
        AuthLog = null;
        PendingActivations.Clear();
        ActivationMessages.Clear();
        BackfillTargets.Clear();
        PeerMissing.Clear();
        Recovering.Clear();
        Unfound.Clear();
        UrgentRecovery.Clear();
        BlockedReason = "";
        RepairSources.Clear();
        TrimQueue.Clear();
        TrimsInFlight = 0;
    }

    /// <summary>True when no object of the PG is missing or being recovered anywhere.</summary>
    public bool IsRecovered => DegradedCount() == 0 && Recovering.Count == 0;
}

/// <summary>A client request held by the primary until it can run.</summary>
internal sealed class PendingClientOp(long connection, string client, ClientOp op, DataBuffer data) : IntrusiveListNode<PendingClientOp>
{
    /// <summary>Where the reply goes: the connection of the newest copy of the request (a resend retargets it).</summary>
    public long Connection { get; private set; } = connection;

    public string Client { get; } = client;

    public ClientOp Op { get; private set; } = op;

    public DataBuffer Data { get; private set; } = data;

    /// <summary>A write whose replication started (it is some InFlightWrite's op): its entry and data are fixed.</summary>
    public bool Started;

    /// <summary>
    /// A resend of this request (same client, same request id) arrived while this copy waits: the newer copy takes
    /// this one's place in whatever queue holds it, so a PG stuck for minutes holds one copy per request, not one
    /// per resend (each with its data: 4 MiB writes resent every few seconds would fill the node's memory). A
    /// started write keeps its op and data, which its replication already uses: only the reply goes to the newer
    /// copy's connection and transaction id. The newer copy gives up its data and must not be used further.
    /// </summary>
    public void TakeOver(PendingClientOp newer)
    {
        Connection = newer.Connection;
        if (Started)
        {
            Op.Tid = newer.Op.Tid;
            return;
        }
        Op = newer.Op;
        Data.Release();
        Data = newer.Data;
        newer.Data = DataBuffer.Empty;
    }

    /// <summary>For the OSD's own operations (snap trim): called with the result instead of a reply.</summary>
    public Action<OsdStatus>? OnDone { get; init; }

    // Slow-op tracking (OsdCore.SlowOps.cs): plain fields, and the list links in the base class, so tracking
    // allocates nothing per op.
    public long ReceivedMs;
    /// <summary>When it was received, as a Stopwatch timestamp, for the latency counters (0 for the OSD's own ops).</summary>
    public long ReceivedTimestamp;
    /// <summary>Threshold multiples of its age already reported (once per crossing).</summary>
    public int SlowReports;

    public bool IsWrite => IsWriteKind(Op.Kind);

    public static bool IsWriteKind(OsdOpKind kind) => kind is OsdOpKind.OsdOpWrite or OsdOpKind.OsdOpZero or OsdOpKind.OsdOpDelete
        or OsdOpKind.OsdOpCopyUp or OsdOpKind.OsdOpRollback or OsdOpKind.OsdOpTrimClone;
}

/// <summary>A write the primary replicates: acknowledged when every acting member made it durable.</summary>
internal sealed class InFlightWrite(PendingClientOp op, PgLogEntry entry, ulong prevVersion)
{
    public PendingClientOp Op { get; } = op;

    public PgLogEntry Entry { get; } = entry;

    public ulong PrevVersion { get; } = prevVersion;

    public HashSet<int> Waiting { get; } = new();

    public List<PendingClientOp> Duplicates { get; } = new();

    public long SentMs { get; set; }

    /// <summary>When its replicated ops were first sent (Stopwatch timestamp), for the latency counters.</summary>
    public long StartTimestamp { get; set; }

    /// <summary>The version the client is told: the entry's own, or for a barrier the logged write's.</summary>
    public ulong ReplyVersion { get; set; }
}

/// <summary>One object being recovered by the primary.</summary>
internal sealed class RecoveryOp(string name)
{
    public string Name { get; } = name;

    public bool Pulling { get; set; }

    public int Source { get; set; } = -1;

    public HashSet<int> TriedSources { get; } = new();

    public HashSet<int> PushTargets { get; } = new();

    public ulong Version { get; set; }

    public long StartedMs { get; set; }

    public bool Urgent { get; set; }
}
