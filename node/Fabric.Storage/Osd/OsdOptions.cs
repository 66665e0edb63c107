using Fabric.Client.Objects;
using Fabric.Core.Units;

namespace Fabric.Storage.Osd;

/// <summary>Tunables of one OSD. Defaults suit a node; tests and the simulation shrink some.</summary>
public sealed record OsdOptions
{
    /// <summary>PG log entries kept per PG; a member further behind is backfilled.</summary>
    public int MaxLogEntries { get; init; } = 3000;

    /// <summary>Objects recovered or backfilled at once by this OSD as primary (the recovery rate limit).</summary>
    public int MaxRecoveryOps { get; init; } = 4;

    /// <summary>Recovery bytes per second pushed by this OSD as primary (0 = unlimited).</summary>
    public long RecoveryBytesPerSecond { get; init; } = 256L << 20;

    /// <summary>Resend interval for peering messages, replication ops and recovery that got no answer.</summary>
    public int RetransmitMs { get; init; } = 1000;

    /// <summary>
    /// Resend interval for replication ops that got no answer. Peer connections are reliable while they
    /// last and a dropped connection triggers a resend by itself (<see cref="OsdCore.OnPeerConnectionLost"/>),
    /// so this only covers what nothing else notices; short values duplicate large writes that are merely slow.
    /// </summary>
    public int WriteRetransmitMs { get; init; } = 30_000;

    /// <summary>The node's incarnation when the OSD starts (0 = unknown: accept any); a later rejoin's reaches the
    /// OSD through <see cref="OsdCore.OnIncarnation"/>.</summary>
    public ulong Incarnation { get; init; }

    /// <summary>Capacity reported when the store cannot tell.</summary>
    public long CapacityBytes { get; init; } = 100L << 30;

    /// <summary>Each PG this OSD leads is scrubbed this often (0 = only on demand). Default: daily, like Ceph.</summary>
    public long ScrubIntervalMs { get; init; } = 24L * 3600 * 1000;

    /// <summary>Each PG is deep-scrubbed (every block re-read and checked) this often (0 = only on demand). Default: weekly.</summary>
    public long DeepScrubIntervalMs { get; init; } = 7L * 24 * 3600 * 1000;

    /// <summary>Repair what a scheduled scrub finds inconsistent without waiting for `fabric pg repair`.</summary>
    public bool AutoRepair { get; init; }

    /// <summary>Objects compared per scrub chunk: writes to them wait while the chunk is compared.</summary>
    public int ScrubChunkObjects { get; init; } = 16;

    /// <summary>Pause between scrub chunks (ms), to leave room for client I/O.</summary>
    public int ScrubSleepMs { get; init; }

    /// <summary>PGs this OSD scrubs at once as primary.</summary>
    public int MaxScrubs { get; init; } = 1;

    /// <summary>Snap trim operations (dropping clones of deleted snapshots) in flight per PG.</summary>
    public int MaxTrimOps { get; init; } = 4;

    /// <summary>Whole 4 KiB blocks a write must cover to go to the store's slot file instead of through its log
    /// (<see cref="Store.ObjectBlocks.PlacedWriteBlocks"/>; int.MaxValue = never: every write goes through the log).</summary>
    public int PlacedWriteBlocks { get; init; } = Store.ObjectBlocks.PlacedWriteBlocks;

    /// <summary>The size of the store's journal (<see cref="Store.StoreJournal"/>), where batches become durable
    /// instead of RocksDB's WAL; 0 = RocksDB's WAL.</summary>
    public long JournalBytes { get; init; } = Store.RocksDbObjectStore.DefaultJournalBytes;

    /// <summary>Age at which a client op the primary accepted and has not answered is logged as slow (0 = never);
    /// see <see cref="SlowOpThreshold"/>.</summary>
    public long SlowOpMs { get; init; } = SlowOpThreshold.DefaultMs;

    /// <summary>
    /// The node's options with the operator's overrides from the environment, until the cluster config has
    /// a storage table: FABRIC_OSD_SCRUB_INTERVAL and FABRIC_OSD_DEEP_SCRUB_INTERVAL (durations such as
    /// "12h", "0" = only on demand), FABRIC_OSD_AUTO_REPAIR (true/false), FABRIC_OSD_SCRUB_SLEEP ("50ms"),
    /// FABRIC_OSD_PLACED_WRITE_KIB (the smallest write, in KiB, a multiple of 4, that bypasses the log for the slot
    /// file; "0" = none does), FABRIC_OSD_RECOVERY_MIBPS (recovery bytes per second this OSD pushes as primary, in
    /// MiB; "0" = unlimited), FABRIC_OSD_JOURNAL_MIB (the store journal's size, at least 1; "0" = RocksDB's WAL),
    /// FABRIC_SLOW_OP_SECONDS (the age at which an op is logged as slow, shared with the node's object client; "0" =
    /// never). A value that does not parse is an error naming the variable.
    /// </summary>
    public static OsdOptions FromEnvironment(Func<string, string?>? lookup = null)
    {
        lookup ??= Environment.GetEnvironmentVariable;
        var options = new OsdOptions();
        if (Duration(lookup, "FABRIC_OSD_SCRUB_INTERVAL") is { } scrub)
        {
            options = options with { ScrubIntervalMs = scrub };
        }
        if (Duration(lookup, "FABRIC_OSD_DEEP_SCRUB_INTERVAL") is { } deep)
        {
            options = options with { DeepScrubIntervalMs = deep };
        }
        if (Duration(lookup, "FABRIC_OSD_SCRUB_SLEEP") is { } sleep)
        {
            options = options with { ScrubSleepMs = (int)Math.Min(sleep, int.MaxValue) };
        }
        if (lookup("FABRIC_OSD_AUTO_REPAIR") is { Length: > 0 } repair)
        {
            options = options with
            {
                AutoRepair = bool.TryParse(repair, out bool on) ? on : throw new FormatException($"FABRIC_OSD_AUTO_REPAIR='{repair}' is not true or false"),
            };
        }
        if (lookup("FABRIC_OSD_PLACED_WRITE_KIB") is { Length: > 0 } placed)
        {
            options = options with
            {
                PlacedWriteBlocks = !int.TryParse(placed, out int kib) || kib < 0 || kib % 4 != 0
                    ? throw new FormatException($"FABRIC_OSD_PLACED_WRITE_KIB='{placed}' is not a size in KiB that is a multiple of 4 (64 is the default, 0 turns placed writes off)")
                    : kib == 0 ? int.MaxValue : kib / 4,
            };
        }
        if (lookup("FABRIC_OSD_RECOVERY_MIBPS") is { Length: > 0 } recovery)
        {
            options = options with
            {
                RecoveryBytesPerSecond = !long.TryParse(recovery, out long mibps) || mibps < 0 || mibps > 1L << 30
                    ? throw new FormatException($"FABRIC_OSD_RECOVERY_MIBPS='{recovery}' is not a rate in MiB/s (256 is the default, 0 means unlimited)")
                    : mibps << 20,
            };
        }
        if (lookup("FABRIC_OSD_JOURNAL_MIB") is { Length: > 0 } journal)
        {
            options = options with
            {
                JournalBytes = !long.TryParse(journal, out long mib) || mib < 0 || mib > 1L << 20
                    ? throw new FormatException($"FABRIC_OSD_JOURNAL_MIB='{journal}' is not a size in MiB (64 is the default, 0 uses RocksDB's WAL instead)")
                    : mib << 20,
            };
        }
        if (lookup(SlowOpThreshold.Variable) is { Length: > 0 })
        {
            options = options with { SlowOpMs = SlowOpThreshold.FromEnvironment(lookup) };
        }
        return options;
    }

    private static long? Duration(Func<string, string?> lookup, string name)
    {
        string? text = lookup(name);
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        if (text == "0")
        {
            return 0;
        }
        return DurationText.TryParse(text, out TimeSpan value, out _)
            ? (long)value.TotalMilliseconds
            : throw new FormatException($"{name}='{text}' is not a duration (like 30s, 12h, 7d)");
    }
}
