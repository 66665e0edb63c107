// Names of RocksDB properties a store reports (see rocksdb/db.h, DB::Properties), for
// RocksDatabase.GetProperty / GetIntProperty.
namespace Fabric.RocksDb;

public static class RocksDbProperty
{
    /// <summary>Estimated number of keys (memtables + SSTs; deletes and overwrites make it rough).</summary>
    public const string EstimateNumKeys = "rocksdb.estimate-num-keys";

    /// <summary>Total size in bytes of all SST files of all versions.</summary>
    public const string TotalSstFilesSize = "rocksdb.total-sst-files-size";

    /// <summary>Size in bytes of the SST files of the current version only.</summary>
    public const string LiveSstFilesSize = "rocksdb.live-sst-files-size";

    /// <summary>Approximate bytes in the active and unflushed immutable memtables.</summary>
    public const string CurrentSizeAllMemTables = "rocksdb.cur-size-all-mem-tables";

    /// <summary>Number of not-yet-flushed immutable memtables.</summary>
    public const string NumImmutableMemTables = "rocksdb.num-immutable-mem-table";

    /// <summary>1 while writes are being stopped or delayed by too much pending work.</summary>
    public const string ActualDelayedWriteRate = "rocksdb.actual-delayed-write-rate";

    /// <summary>Estimated bytes compaction must rewrite to bring every level under its target.</summary>
    public const string EstimatePendingCompactionBytes = "rocksdb.estimate-pending-compaction-bytes";

    /// <summary>Number of live snapshots.</summary>
    public const string NumSnapshots = "rocksdb.num-snapshots";

    /// <summary>Memory used by the block cache, in bytes.</summary>
    public const string BlockCacheUsage = "rocksdb.block-cache-usage";

    /// <summary>Multi-line statistics text (compaction, stalls, per-level sizes).</summary>
    public const string Stats = "rocksdb.stats";

    /// <summary>Number of SST files at level N: append the level number ("rocksdb.num-files-at-level0").</summary>
    public const string NumFilesAtLevelPrefix = "rocksdb.num-files-at-level";
}
