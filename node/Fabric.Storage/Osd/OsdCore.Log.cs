using System.Buffers.Binary;
using System.Diagnostics;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Store;
using Google.Protobuf;

namespace Fabric.Storage.Osd;

/// <summary>PG log, info and missing-set persistence; merging an authoritative log; backfill.</summary>
public sealed partial class OsdCore
{
    /// <summary>Needed version meaning "whatever the authoritative copy holds".</summary>
    internal const ulong AnyVersion = ulong.MaxValue;

    private enum MergeResult
    {
        Ok,
        NeedBackfill,
    }

    private void LoadSuperblock()
    {
        byte[]? value = _store.Get([StoreKeys.SuperblockKind]);
        if (value is null)
        {
            return;
        }
        var superblock = PgNotify.Parser.ParseFrom(value);
        _epoch = superblock.MapEpoch;
        _coverage.AddRange(superblock.Coverage);
        Span<byte> prefix = [StoreKeys.HistoryKind];
        _store.Scan(prefix, (key, v) =>
        {
            var holder = PgNotify.Parser.ParseFrom(v);
            _history[StoreKeys.PgOf(key)] = new List<PgInterval>(holder.Intervals);
            return true;
        });
        // The epoch we stopped at is known; what happens until the next map we process is not.
    }

    private void LoadPgs()
    {
        var infos = new List<PgInfo>();
        _store.Scan([StoreKeys.InfoKind], (key, value) =>
        {
            infos.Add(PgInfo.Parser.ParseFrom(value));
            return true;
        });
        Span<byte> prefix = stackalloc byte[16];
        foreach (PgInfo info in infos)
        {
            PgState pg = GetOrCreatePg(PgId.FromPacked(info.Pg));
            pg.LastUpdate = info.LastUpdate;
            pg.LogTail = info.LogTail;
            pg.LastEpochStarted = info.LastEpochStarted;
            pg.Exists = info.Exists;
            pg.DurableVersion = info.LastUpdate;
            int n = StoreKeys.PgPrefix(prefix, StoreKeys.LogKind, pg.Packed);
            _store.Scan(prefix[..n], (key, value) =>
            {
                pg.AddLogEntry(PgLogEntry.Parser.ParseFrom(value));
                return true;
            });
            // A write does not put the info record again (PersistInfoAfterAppend): its LastUpdate is the newest
            // log entry's version, which is in the same atomic batch as the entry.
            if (pg.Log.Count > 0 && pg.Log[^1].Version > pg.LastUpdate)
            {
                pg.LastUpdate = pg.Log[^1].Version;
                pg.DurableVersion = pg.LastUpdate;
            }
            pg.PersistedInfo = (pg.LogTail, pg.LastEpochStarted);
            n = StoreKeys.PgPrefix(prefix, StoreKeys.MissingKind, pg.Packed);
            _store.Scan(prefix[..n], (key, value) =>
            {
                pg.Missing[StoreKeys.NameOf(key)] = BinaryPrimitives.ReadUInt64LittleEndian(value);
                return true;
            });
            LoadScrubFindings(pg);
            pg.Phase = PgPhase.Stray;
        }
    }

    /// <summary>
    /// After <see cref="AppendLog"/>: puts the PG info record only when a field other than LastUpdate changed (the
    /// log was trimmed, or the PG's first write). LastUpdate need not be put: the entry that moved it is in the same
    /// batch, and loading takes the newest entry's version (LoadPgs). Saves a put and an encoding per write and
    /// replica write.
    /// </summary>
    private void PersistInfoAfterAppend(PgState pg, IStoreBatch batch)
    {
        Debug.Assert(pg.Log.Count > 0 && pg.Log[^1].Version == pg.LastUpdate, "LastUpdate is the newest log entry's version");
        if (pg.PersistedInfo != (pg.LogTail, pg.LastEpochStarted))
        {
            PersistInfo(pg, batch);
        }
    }

    private void PersistInfo(PgState pg, IStoreBatch batch)
    {
        pg.Exists = true;
        pg.PersistedInfo = (pg.LogTail, pg.LastEpochStarted);
        var info = new PgInfo
        {
            Pg = pg.Packed,
            LastUpdate = pg.LastUpdate,
            LogTail = pg.LogTail,
            LastEpochStarted = pg.LastEpochStarted,
            Exists = true,
        };
        Span<byte> key = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(key, StoreKeys.InfoKind, pg.Packed);
        batch.Put(key[..n], info.ToByteArray());
    }

    private void PersistMissing(PgState pg, IStoreBatch batch, string name, ulong need)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.MissingKind, pg.Packed, name);
        Span<byte> value = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(value, need);
        batch.Put(key[..n], value);
        pg.Missing[name] = need;
    }

    private void ClearMissing(PgState pg, IStoreBatch batch, string name)
    {
        if (!pg.Missing.Remove(name))
        {
            return;
        }
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.MissingKind, pg.Packed, name);
        batch.Delete(key[..n]);
    }

    /// <summary>Appends an entry to the log in the batch and trims the log to its bound.</summary>
    private void AppendLog(PgState pg, PgLogEntry entry, IStoreBatch batch)
    {
        Span<byte> key = stackalloc byte[24];
        int n = StoreKeys.Log(key, pg.Packed, entry.Version);
        batch.Put(key[..n], entry.ToByteArray());
        pg.AddLogEntry(entry);
        pg.LastUpdate = entry.Version;
        TrimLog(pg, batch);
    }

    private void TrimLog(PgState pg, IStoreBatch batch)
    {
        int max = Math.Max(1, _options.MaxLogEntries);
        // Trim in chunks so that a write does not pay a delete per entry.
        if (pg.Log.Count <= max + Math.Max(1, max / 16))
        {
            return;
        }
        int drop = pg.Log.Count - max;
        Span<byte> key = stackalloc byte[24];
        for (int i = 0; i < drop; i++)
        {
            PgLogEntry old = pg.Log[i];
            int n = StoreKeys.Log(key, pg.Packed, old.Version);
            batch.Delete(key[..n]);
            if (old.Client.Length > 0 && pg.RequestIds.TryGetValue((old.Client, old.RequestSeq), out ulong v) && v == old.Version)
            {
                pg.RequestIds.Remove((old.Client, old.RequestSeq));
            }
            pg.LogTail = old.Version;
        }
        pg.Log.RemoveRange(0, drop);
    }

    /// <summary>
    /// Merges the authoritative log into this OSD's copy of the PG (in the batch): entries this OSD has
    /// that the authority lacks are divergent and their objects rolled back (marked missing); entries
    /// it lacks are added and their objects marked missing. Fails when the fork point lies before the
    /// authority's log tail (then only backfill can tell what differs).
    /// </summary>
    private MergeResult MergeLog(PgState pg, ulong authTail, ulong authLast, IReadOnlyList<PgLogEntry> authEntries, IStoreBatch batch, bool segmentAfterOurs = false)
    {
        if (pg.LastUpdate == authLast && authEntries.Count == 0)
        {
            return MergeResult.Ok;
        }
        var authVersions = new HashSet<ulong>();
        foreach (PgLogEntry e in authEntries)
        {
            authVersions.Add(e.Version);
        }
        // Find the fork point: the newest own entry that the authority also has.
        ulong fork;
        int keep = pg.Log.Count;
        if (pg.LastUpdate == authLast || authVersions.Contains(pg.LastUpdate) || (pg.LastUpdate == authTail) || segmentAfterOurs)
        {
            fork = pg.LastUpdate;
        }
        else
        {
            fork = ulong.MaxValue;
            for (int i = pg.Log.Count - 1; i >= 0; i--)
            {
                ulong v = pg.Log[i].Version;
                if (authVersions.Contains(v) || v == authTail)
                {
                    fork = v;
                    keep = i + 1;
                    break;
                }
                if (v < authTail)
                {
                    return MergeResult.NeedBackfill;
                }
                keep = i;
            }
            if (fork == ulong.MaxValue)
            {
                // Every own entry diverged: the history before them must be common.
                if (pg.LogTail == authTail || (pg.LogTail > authTail && authVersions.Contains(pg.LogTail)))
                {
                    fork = pg.LogTail;
                }
                else if (pg.LastUpdate == 0 && authTail == 0)
                {
                    fork = 0;
                }
                else
                {
                    return MergeResult.NeedBackfill;
                }
            }
        }
        if (fork < authTail && !(fork == 0 && pg.LastUpdate == 0 && authTail == 0))
        {
            return MergeResult.NeedBackfill;
        }

        // Latest authoritative entry per object after the fork.
        var latest = new Dictionary<string, PgLogEntry>(StringComparer.Ordinal);
        foreach (PgLogEntry e in authEntries)
        {
            // Barriers (logged as stats) change no object.
            if (e.Version > fork && e.Kind != OsdOpKind.OsdOpStat)
            {
                latest[e.Object] = e;
            }
        }

        // Roll back divergent entries.
        Span<byte> key = stackalloc byte[24];
        for (int i = pg.Log.Count - 1; i >= keep; i--)
        {
            PgLogEntry d = pg.Log[i];
            int n = StoreKeys.Log(key, pg.Packed, d.Version);
            batch.Delete(key[..n]);
            if (d.Client.Length > 0)
            {
                pg.RequestIds.Remove((d.Client, d.RequestSeq));
            }
            if (d.Kind != OsdOpKind.OsdOpStat && !latest.ContainsKey(d.Object))
            {
                ObjectBlocks.AddDelete(_store, batch, pg.Packed, d.Object);
                PersistMissing(pg, batch, d.Object, AnyVersion);
            }
        }
        if (keep < pg.Log.Count)
        {
            pg.Log.RemoveRange(keep, pg.Log.Count - keep);
        }
        pg.LastUpdate = fork;

        // Add the entries after the fork.
        foreach (PgLogEntry e in authEntries)
        {
            if (e.Version <= fork)
            {
                continue;
            }
            int n = StoreKeys.Log(key, pg.Packed, e.Version);
            batch.Put(key[..n], e.ToByteArray());
            pg.AddLogEntry(e);
            pg.LastUpdate = e.Version;
        }
        foreach ((string name, PgLogEntry e) in latest)
        {
            if (RemovesObject(e))
            {
                ObjectBlocks.AddDelete(_store, batch, pg.Packed, name);
                ClearMissing(pg, batch, name);
                continue;
            }
            ObjectMeta? meta = ObjectBlocks.ReadMeta(_store, pg.Packed, name);
            if (meta is { } m && m.Version == e.Version && !pg.Missing.ContainsKey(name))
            {
                continue;
            }
            PersistMissing(pg, batch, name, e.Version);
        }
        if (authLast > pg.LastUpdate)
        {
            pg.LastUpdate = authLast;
        }
        pg.LogTail = Math.Max(pg.LogTail, Math.Min(authTail, pg.LastUpdate));
        TrimLog(pg, batch);
        PersistInfo(pg, batch);
        return MergeResult.Ok;
    }

    /// <summary>
    /// Backfill: replaces the log with the authoritative one and compares objects against the
    /// authoritative listing: extra objects are deleted, differing ones marked missing.
    /// </summary>
    private void Backfill(PgState pg, ulong authTail, ulong authLast, IReadOnlyList<PgLogEntry> authEntries, IReadOnlyList<ObjectVersion> listing, IStoreBatch batch)
    {
        Span<byte> prefix = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(prefix, StoreKeys.LogKind, pg.Packed);
        batch.DeleteRange(prefix[..n], StoreKeys.PrefixEnd(prefix[..n]));
        n = StoreKeys.PgPrefix(prefix, StoreKeys.MissingKind, pg.Packed);
        batch.DeleteRange(prefix[..n], StoreKeys.PrefixEnd(prefix[..n]));
        pg.Log.Clear();
        pg.RequestIds.Clear();
        pg.Missing.Clear();
        Span<byte> key = stackalloc byte[24];
        foreach (PgLogEntry e in authEntries)
        {
            int k = StoreKeys.Log(key, pg.Packed, e.Version);
            batch.Put(key[..k], e.ToByteArray());
            pg.AddLogEntry(e);
        }
        pg.LastUpdate = authLast;
        pg.LogTail = authTail;

        var wanted = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (ObjectVersion o in listing)
        {
            wanted[o.Object] = o.Version;
        }
        foreach ((string name, ObjectMeta meta) in ListLocalObjects(pg))
        {
            if (!wanted.TryGetValue(name, out ulong version))
            {
                ObjectBlocks.AddDelete(_store, batch, pg.Packed, name);
            }
            else if (version == meta.Version)
            {
                wanted.Remove(name);
            }
        }
        foreach ((string name, ulong version) in wanted)
        {
            PersistMissing(pg, batch, name, version);
        }
        TrimLog(pg, batch);
        PersistInfo(pg, batch);
    }

    private List<(string Name, ObjectMeta Meta)> ListLocalObjects(PgState pg)
    {
        var result = new List<(string, ObjectMeta)>();
        Span<byte> prefix = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(prefix, StoreKeys.ObjectKind, pg.Packed);
        _store.Scan(prefix[..n], (key, value) =>
        {
            if (value.Length >= ObjectHead.BaseSize)
            {
                result.Add((StoreKeys.NameOf(key), new ObjectMeta(BinaryPrimitives.ReadUInt64LittleEndian(value), BinaryPrimitives.ReadUInt64LittleEndian(value[8..]))));
            }
            return true;
        });
        return result;
    }

    /// <summary>The authoritative object listing as this OSD knows it (present objects plus missing ones at their needed version).</summary>
    private List<ObjectVersion> BuildListing(PgState pg)
    {
        var listing = new List<ObjectVersion>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string name, ObjectMeta meta) in ListLocalObjects(pg))
        {
            if (pg.Missing.TryGetValue(name, out ulong need))
            {
                continue;
            }
            listing.Add(new ObjectVersion { Object = name, Version = meta.Version });
            seen.Add(name);
        }
        foreach ((string name, ulong need) in pg.Missing)
        {
            // Also objects we need at "whatever the authority has": the member must not drop them,
            // it marks them missing too and gets them once we have them.
            if (!seen.Contains(name))
            {
                listing.Add(new ObjectVersion { Object = name, Version = need });
            }
        }
        return listing;
    }

    /// <summary>Removes every trace of a PG from this OSD (a stray told to go away).</summary>
    private void DeletePgData(PgState pg)
    {
        IStoreBatch batch = _store.CreateBatch();
        Span<byte> prefix = stackalloc byte[16];
        ObjectBlocks.AddFreePlaced(_store, batch, prefix[..StoreKeys.PgPrefix(prefix, StoreKeys.PlacedKind, pg.Packed)]);
        foreach (byte kind in new[] { StoreKeys.ObjectKind, StoreKeys.DataKind, StoreKeys.PlacedKind, StoreKeys.CloneDataKind, StoreKeys.LogKind, StoreKeys.MissingKind, StoreKeys.InfoKind, StoreKeys.ScrubKind })
        {
            int n = StoreKeys.PgPrefix(prefix, kind, pg.Packed);
            if (kind is StoreKeys.InfoKind or StoreKeys.ScrubKind)
            {
                batch.Delete(prefix[..n]);
            }
            else
            {
                batch.DeleteRange(prefix[..n], StoreKeys.PrefixEnd(prefix[..n]));
            }
        }
        _env.Commit(batch, null);
        pg.PersistedInfo = null;
        _pgs.Remove(pg.Packed);
    }
}
