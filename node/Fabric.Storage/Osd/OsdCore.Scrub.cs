using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Store;
using Google.Protobuf;

namespace Fabric.Storage.Osd;

// Scrub: the primary compares every object's copies across the acting set, a chunk at a time.
//
//   primary P                                   acting replicas R
//     | PG active+clean; chunk = next N objects [start, end) in key order
//     | writes to objects in the chunk wait; in-flight ones drain (acknowledged = applied everywhere)
//     |--ScrubRequest(chunk, deep)---------------->| scan own store in [start, end)
//     |<--ScrubMap(meta, crc digest, bad blocks)---|
//     | own map; compare: per object, the authoritative copy = the largest group of members with
//     |   equal metadata and digest and no bad block (ties: the primary's, then the lowest id);
//     |   every other member's copy is inconsistent (recorded, shown by `fabric pg list`)
//     | release the chunk's writes; next chunk after ScrubSleepMs
//     | repair (asked, or AutoRepair): bad copies become missing with the authoritative version and
//     |   recovery rewrites them from the authoritative member (Push with repair)
//
// Why the copies can be compared while the PG serves I/O: a write is acknowledged only once every
// acting member applied it, and writes to a chunk's objects are held from before the replicas are
// asked until every map is in, so every member describes the same state of those objects. A light
// scrub compares metadata and the stored per-block crcs; a deep scrub also re-reads every block and
// checks it against its crc, which is the only way to find a replica's silently bad block (reads go
// to the primary only).
public sealed partial class OsdCore
{
    private ulong _scrubCounter;
    private int _scrubsActive;

    public long ScrubbedBytes { get; private set; }

    public long ScrubbedObjects { get; private set; }

    /// <summary>Admin: scrub (deep, repair) a PG this OSD leads, as soon as it is active+clean.</summary>
    public ScrubPgReply RequestScrub(ScrubPgRequest request, bool deep, bool repair)
    {
        var reply = new ScrubPgReply();
        if (!PgId.TryParse(request.Pg, out PgId id) || _placement?.FindPool(id.Pool) is not { } pool || id.Seed >= Math.Max(1, pool.PgCount))
        {
            reply.Error = $"PG '{request.Pg}' does not exist (fabric pg list shows the PGs)";
            return reply;
        }
        PgMapping mapping = _placement.Get(id)!;
        reply.Primary = mapping.Primary;
        if (mapping.Primary != _osd || !_pgs.TryGetValue(id.Packed, out PgState? pg) || !pg.IsPrimary)
        {
            reply.Error = $"osd.{_osd} is not the primary of PG {id} (osd.{mapping.Primary} is)";
            return reply;
        }
        reply.Accepted = true;
        reply.Scrubs = pg.ScrubsDone;
        reply.DeepScrubs = pg.DeepScrubsDone;
        ScrubJob job = pg.PendingScrub ?? new ScrubJob { Requested = true };
        job.Deep |= deep || repair;
        job.Repair |= repair;
        pg.PendingScrub = job;
        ScheduleScrubs();
        return reply;
    }

    /// <summary>Admin: the inconsistent objects of the PGs this OSD leads.</summary>
    public ListInconsistentReply ListInconsistent(ListInconsistentRequest request)
    {
        var reply = new ListInconsistentReply { Osd = _osd, MapEpoch = _epoch };
        foreach (PgState pg in _pgs.Values.OrderBy(p => p.Id))
        {
            if (!pg.IsPrimary || (request.Pg.Length > 0 && pg.Id.ToString() != request.Pg))
            {
                continue;
            }
            reply.Objects.AddRange(pg.Inconsistent.Values.Select(o => o.Clone()));
        }
        return reply;
    }

    /// <summary>Starts due and requested scrubs, resumes chunks (called from Tick).</summary>
    private void ScheduleScrubs()
    {
        long now = _env.NowMs;
        foreach (PgState pg in _pgs.Values)
        {
            if (!pg.IsPrimary || pg.Phase != PgPhase.Active)
            {
                continue;
            }
            if (pg.NextScrubMs < 0)
            {
                pg.NextScrubMs = now + Jitter(pg, _options.ScrubIntervalMs);
                pg.NextDeepScrubMs = now + Jitter(pg, _options.DeepScrubIntervalMs);
            }
            ScrubJob? job = pg.Scrub;
            if (job is null)
            {
                continue;
            }
            if (!job.ChunkActive && now >= job.ResumeAtMs)
            {
                BeginChunk(pg);
            }
            else if (job.ChunkActive && !job.Sent)
            {
                ContinueScrub(pg);
            }
            else if (job.ChunkActive && job.Sent && now - job.SentMs >= RecoveryTimeoutFactor * _options.RetransmitMs)
            {
                job.SentMs = now;
                foreach (int osd in job.Waiting)
                {
                    Send(osd, StorageMessageType.MsgScrubRequest, job.Request(pg));
                }
            }
        }
        while (_scrubsActive < Math.Max(1, _options.MaxScrubs))
        {
            // The requested PG with the lowest id first, else the due one with the lowest id (no sort:
            // this runs every tick over every PG).
            PgState? next = null;
            bool nextRequested = false;
            bool deepDue = false;
            foreach (PgState pg in _pgs.Values)
            {
                if (!pg.IsPrimary || pg.Phase != PgPhase.Active || pg.Scrub is not null || pg.Mapping is null || !pg.IsRecovered)
                {
                    continue;
                }
                bool requested = pg.PendingScrub is not null;
                bool deep = _options.DeepScrubIntervalMs > 0 && now >= pg.NextDeepScrubMs;
                bool light = _options.ScrubIntervalMs > 0 && now >= pg.NextScrubMs;
                if (!requested && !deep && !light)
                {
                    continue;
                }
                bool better = next is null || (requested && !nextRequested) || (requested == nextRequested && pg.Id.CompareTo(next.Id) < 0);
                if (better)
                {
                    next = pg;
                    nextRequested = requested;
                    deepDue = deep;
                }
            }
            if (next is null)
            {
                return;
            }
            ScrubJob job = next.PendingScrub ?? new ScrubJob { Deep = deepDue, Repair = _options.AutoRepair };
            next.PendingScrub = null;
            job.Id = ++_scrubCounter;
            job.Session = next.Session;
            job.Start = "";
            job.End = null;
            next.Scrub = job;
            _scrubsActive++;
            BeginChunk(next);
        }
    }

    private static long Jitter(PgState pg, long interval)
    {
        if (interval <= 0)
        {
            return long.MaxValue / 4;
        }
        // Spread the PGs' first scrubs over the second half of the interval, the same on every run.
        ulong hash = pg.Packed * 0x9E3779B97F4A7C15UL;
        return interval / 2 + (long)(hash % (ulong)Math.Max(1, interval / 2));
    }

    /// <summary>Picks the next chunk of object names and holds writes to them.</summary>
    private void BeginChunk(PgState pg)
    {
        ScrubJob job = pg.Scrub!;
        var names = new List<string>();
        string? end = null;
        int limit = Math.Max(1, _options.ScrubChunkObjects);
        Span<byte> prefix = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(prefix, StoreKeys.ObjectKind, pg.Packed);
        byte[] from = StartKey(pg.Packed, job.Start);
        _store.Scan(prefix[..n], from, (key, _) =>
        {
            string name = StoreKeys.NameOf(key);
            if (names.Count == limit)
            {
                end = name;
                return false;
            }
            names.Add(name);
            return true;
        });
        job.End = end;
        job.ChunkActive = true;
        job.Sent = false;
        job.Waiting.Clear();
        job.Maps.Clear();
        ContinueScrub(pg);
    }

    private static byte[] StartKey(ulong pg, string start)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = start.Length == 0 ? StoreKeys.PgPrefix(key, StoreKeys.ObjectKind, pg) : StoreKeys.Named(key, StoreKeys.ObjectKind, pg, start);
        return key[..n].ToArray();
    }

    private static bool InRange(string name, string start, string? end) =>
        (start.Length == 0 || StoreKeys.CompareNames(name, start) >= 0) && (end is null || StoreKeys.CompareNames(name, end) < 0);

    /// <summary>True while a scrub chunk covering the object is being compared (its writes wait).</summary>
    private static bool InScrubChunk(PgState pg, string name) => pg.Scrub is { ChunkActive: true } job && InRange(name, job.Start, job.End);

    /// <summary>Once the chunk's writes in flight are done: ask the replicas and describe our own copies.</summary>
    private void ContinueScrub(PgState pg)
    {
        ScrubJob? job = pg.Scrub;
        if (job is null || !job.ChunkActive || job.Sent)
        {
            return;
        }
        foreach (string name in pg.ObjectWrites.Keys)
        {
            if (InRange(name, job.Start, job.End))
            {
                return; // OnWriteAck calls back when they are done.
            }
        }
        job.Sent = true;
        job.SentMs = _env.NowMs;
        ScrubRequest request = job.Request(pg);
        foreach (int member in pg.Mapping!.Acting)
        {
            if (member != _osd)
            {
                job.Waiting.Add(member);
                Send(member, StorageMessageType.MsgScrubRequest, request);
            }
        }
        job.Maps[_osd] = BuildScrubMap(pg, job.Start, job.End, job.Deep);
        if (job.Waiting.Count == 0)
        {
            CompleteChunk(pg);
        }
    }

    private Dictionary<string, ScrubObject> BuildScrubMap(PgState pg, string start, string? end, bool deep)
    {
        var names = new List<string>();
        Span<byte> prefix = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(prefix, StoreKeys.ObjectKind, pg.Packed);
        _store.Scan(prefix[..n], StartKey(pg.Packed, start), (key, _) =>
        {
            string name = StoreKeys.NameOf(key);
            if (end is not null && StoreKeys.CompareNames(name, end) >= 0)
            {
                return false;
            }
            names.Add(name);
            return true;
        });
        var map = new Dictionary<string, ScrubObject>(StringComparer.Ordinal);
        foreach (string name in names)
        {
            map[name] = ObjectFamily.Scrub(_store, pg.Packed, name, deep, out long bytes);
            ScrubbedBytes += bytes;
            ScrubbedObjects++;
        }
        return map;
    }

    /// <summary>A replica: describe our copies of a chunk.</summary>
    private void HandleScrubRequest(int from, ScrubRequest request)
    {
        var reply = new ScrubMap { Pg = request.Pg, Session = request.Session, ScrubId = request.ScrubId };
        if (!_pgs.TryGetValue(request.Pg, out PgState? pg) || pg.IsPrimary || pg.Session != request.Session || !pg.ActivatedThisRun)
        {
            reply.Refused = true;
            Send(from, StorageMessageType.MsgScrubMap, reply);
            return;
        }
        reply.Objects.AddRange(BuildScrubMap(pg, request.Start, request.End.Length == 0 ? null : request.End, request.Deep).Values);
        Send(from, StorageMessageType.MsgScrubMap, reply);
    }

    private void HandleScrubMap(int from, ScrubMap map)
    {
        if (!_pgs.TryGetValue(map.Pg, out PgState? pg) || !pg.IsPrimary || pg.Scrub is not { ChunkActive: true, Sent: true } job
            || job.Id != map.ScrubId || map.Session != pg.Session || !job.Waiting.Contains(from))
        {
            return;
        }
        if (map.Refused)
        {
            // The replica is not active in this session (yet): give the chunk's writes back, retry later.
            EndChunk(pg, advance: false);
            job.ResumeAtMs = _env.NowMs + _options.RetransmitMs;
            return;
        }
        job.Waiting.Remove(from);
        var objects = new Dictionary<string, ScrubObject>(StringComparer.Ordinal);
        foreach (ScrubObject o in map.Objects)
        {
            objects[o.Object] = o;
        }
        job.Maps[from] = objects;
        if (job.Waiting.Count == 0)
        {
            CompleteChunk(pg);
        }
    }

    /// <summary>Every member described the chunk: compare, record, repair, move on.</summary>
    private void CompleteChunk(PgState pg)
    {
        ScrubJob job = pg.Scrub!;
        bool changed = false;
        foreach (string name in pg.Inconsistent.Keys.Where(k => InRange(k, job.Start, job.End) && !pg.Inconsistent[k].Repairing).ToList())
        {
            pg.Inconsistent.Remove(name);
            changed = true;
        }
        var names = new SortedSet<string>(Comparer<string>.Create(StoreKeys.CompareNames));
        foreach (Dictionary<string, ScrubObject> map in job.Maps.Values)
        {
            names.UnionWith(map.Keys);
        }
        foreach (string name in names)
        {
            if (pg.Recovering.ContainsKey(name) || pg.IsMissingAnywhere(name))
            {
                continue; // Recovery owns it right now.
            }
            InconsistentObject? found = CompareCopies(pg, job, name);
            if (found is null)
            {
                continue;
            }
            pg.Inconsistent[name] = found;
            changed = true;
            if (job.Repair && found.AuthOsd >= 0)
            {
                StartRepair(pg, found);
            }
        }
        if (changed)
        {
            PersistScrubFindings(pg);
        }
        EndChunk(pg, advance: true);
        ScheduleRecovery();
    }

    private InconsistentObject? CompareCopies(PgState pg, ScrubJob job, string name)
    {
        // Group the members by what they hold; absent copies form a group of their own.
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var copies = new Dictionary<int, ScrubObject?>();
        foreach ((int osd, Dictionary<string, ScrubObject> map) in job.Maps.OrderBy(m => m.Key))
        {
            map.TryGetValue(name, out ScrubObject? copy);
            copies[osd] = copy;
            if (copy is not null && copy.BadBlocks.Count > 0)
            {
                continue; // Never authoritative.
            }
            string key = copy is null ? "absent" : Convert.ToHexString(copy.Meta.Span) + ":" + copy.Digest;
            if (!groups.TryGetValue(key, out List<int>? members))
            {
                members = new List<int>();
                groups[key] = members;
            }
            members.Add(osd);
        }
        List<int>? auth = groups.Values
            .OrderByDescending(g => g.Count)
            .ThenByDescending(g => g.Contains(_osd))
            .ThenBy(g => g.Min())
            .FirstOrDefault();
        var bad = copies.Keys.Where(osd => auth is null || !auth.Contains(osd)).ToList();
        if (bad.Count == 0)
        {
            return null;
        }
        int authOsd = auth is null ? -1 : (auth.Contains(_osd) ? _osd : auth.Min());
        ScrubObject? reference = authOsd >= 0 ? copies[authOsd] : null;
        var found = new InconsistentObject { Pg = pg.Id.ToString(), Object = name, AuthOsd = authOsd };
        found.BadOsds.AddRange(bad);
        foreach (int osd in bad)
        {
            ScrubObject? copy = copies[osd];
            if (copy is null)
            {
                found.Errors.Add($"osd.{osd}: missing");
                continue;
            }
            foreach (string block in copy.BadBlocks)
            {
                found.Errors.Add($"osd.{osd}: block {block}");
            }
            if (copy.BadBlocks.Count > 0)
            {
                continue;
            }
            if (reference is null)
            {
                found.Errors.Add(authOsd >= 0 ? $"osd.{osd}: holds a copy osd.{authOsd} does not have" : $"osd.{osd}: no good copy to compare with");
            }
            else if (!copy.Meta.Equals(reference.Meta))
            {
                found.Errors.Add($"osd.{osd}: metadata (version {VersionOf(copy)}) differs from osd.{authOsd} (version {VersionOf(reference)})");
            }
            else
            {
                found.Errors.Add($"osd.{osd}: data (block checksums) differs from osd.{authOsd}");
            }
        }
        if (authOsd < 0)
        {
            found.Errors.Add("no copy is good: every member has bad blocks");
        }
        return found;
    }

    private static string VersionOf(ScrubObject copy) =>
        copy.Meta.Length >= 8 ? $"{BitConverter.ToUInt64(copy.Meta.Span):x}" : "?";

    /// <summary>Makes the bad copies missing with the authoritative version; recovery then rewrites them from the authority.</summary>
    private void StartRepair(PgState pg, InconsistentObject found)
    {
        ObjectHead? authHead = null;
        if (found.AuthOsd == _osd)
        {
            authHead = ObjectFamily.ReadHead(_store, pg.Packed, found.Object);
        }
        else if (pg.Scrub?.Maps.GetValueOrDefault(found.AuthOsd)?.GetValueOrDefault(found.Object) is { } copy)
        {
            authHead = ObjectHead.Decode(copy.Meta.Span);
        }
        ulong need = authHead?.Version ?? AnyVersion;
        IStoreBatch? batch = null;
        foreach (int osd in found.BadOsds)
        {
            if (osd == _osd)
            {
                batch ??= _store.CreateBatch();
                PersistMissing(pg, batch, found.Object, need);
            }
            else
            {
                if (!pg.PeerMissing.TryGetValue(osd, out Dictionary<string, ulong>? missing))
                {
                    missing = new Dictionary<string, ulong>(StringComparer.Ordinal);
                    pg.PeerMissing[osd] = missing;
                }
                missing[found.Object] = need;
            }
        }
        if (batch is not null)
        {
            _env.Commit(batch, null);
        }
        pg.RepairSources[found.Object] = found.AuthOsd;
        found.Repairing = true;
    }

    /// <summary>A copy of the object was rewritten by recovery: a repair (or a read's repair) is done.</summary>
    private void OnObjectRepaired(PgState pg, string name)
    {
        pg.RepairSources.Remove(name);
        if (pg.Inconsistent.TryGetValue(name, out InconsistentObject? found) && !pg.IsMissingAnywhere(name)
            && (found.Repairing || found.BadOsds.All(osd => osd == _osd)))
        {
            pg.Inconsistent.Remove(name);
            PersistScrubFindings(pg);
        }
    }

    /// <summary>Releases the chunk's held writes and moves the cursor (or finishes the scrub).</summary>
    private void EndChunk(PgState pg, bool advance)
    {
        ScrubJob job = pg.Scrub!;
        job.ChunkActive = false;
        job.Sent = false;
        job.Maps.Clear();
        job.Waiting.Clear();
        List<PendingClientOp> blocked = new(pg.ScrubBlocked);
        pg.ScrubBlocked.Clear();
        if (advance)
        {
            if (job.End is null)
            {
                FinishScrub(pg);
            }
            else
            {
                job.Start = job.End;
                job.ResumeAtMs = _env.NowMs + _options.ScrubSleepMs;
            }
        }
        foreach (PendingClientOp op in blocked)
        {
            if (pg.Phase == PgPhase.Active)
            {
                Dispatch(pg, op);
            }
            else
            {
                pg.Waiting.Enqueue(op);
            }
        }
        // The next chunk at once, unless this one completed without replicas (then the tick resumes it:
        // no recursion through every chunk of a PG).
        if (advance && pg.Scrub is not null && _options.ScrubSleepMs <= 0 && pg.Mapping!.Acting.Length > 1)
        {
            BeginChunk(pg);
        }
    }

    private void FinishScrub(PgState pg)
    {
        ScrubJob job = pg.Scrub!;
        long now = _env.NowMs;
        pg.ScrubsDone++;
        pg.NextScrubMs = _options.ScrubIntervalMs > 0 ? now + _options.ScrubIntervalMs : long.MaxValue / 4;
        if (job.Deep)
        {
            pg.DeepScrubsDone++;
            pg.NextDeepScrubMs = _options.DeepScrubIntervalMs > 0 ? now + _options.DeepScrubIntervalMs : long.MaxValue / 4;
        }
        pg.Scrub = null;
        _scrubsActive--;
    }

    /// <summary>The PG re-peers or changes role: a scrub in progress stops (a requested one starts over later).</summary>
    private void AbortScrub(PgState pg)
    {
        if (pg.Scrub is not { } job)
        {
            return;
        }
        pg.Scrub = null;
        _scrubsActive--;
        if (job.Requested && pg.PendingScrub is null)
        {
            pg.PendingScrub = new ScrubJob { Requested = true, Deep = job.Deep, Repair = job.Repair };
        }
    }

    private void PersistScrubFindings(PgState pg)
    {
        IStoreBatch batch = _store.CreateBatch();
        Span<byte> key = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(key, StoreKeys.ScrubKind, pg.Packed);
        if (pg.Inconsistent.Count == 0)
        {
            batch.Delete(key[..n]);
        }
        else
        {
            var holder = new ListInconsistentReply();
            holder.Objects.AddRange(pg.Inconsistent.Values);
            batch.Put(key[..n], holder.ToByteArray());
        }
        _env.Commit(batch, null);
    }

    private void LoadScrubFindings(PgState pg)
    {
        Span<byte> key = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(key, StoreKeys.ScrubKind, pg.Packed);
        byte[]? value = _store.Get(key[..n]);
        if (value is null)
        {
            return;
        }
        foreach (InconsistentObject found in ListInconsistentReply.Parser.ParseFrom(value).Objects)
        {
            found.Repairing = false;
            pg.Inconsistent[found.Object] = found;
        }
    }
}

/// <summary>One scrub of one PG, run by its primary a chunk at a time.</summary>
internal sealed class ScrubJob
{
    public ulong Id;
    public ulong Session;
    public bool Deep;
    public bool Repair;
    /// <summary>Asked for by an operator (restarted after a re-peer) rather than scheduled.</summary>
    public bool Requested;
    /// <summary>The chunk [Start, End): Start "" = the beginning, End null = to the end of the PG.</summary>
    public string Start = "";
    public string? End;
    public bool ChunkActive;
    public bool Sent;
    public long SentMs;
    public long ResumeAtMs;
    public readonly HashSet<int> Waiting = new();
    public readonly Dictionary<int, Dictionary<string, ScrubObject>> Maps = new();

    public ScrubRequest Request(PgState pg) =>
        new() { Pg = pg.Packed, Session = pg.Session, ScrubId = Id, Deep = Deep, Start = Start, End = End ?? "" };
}
