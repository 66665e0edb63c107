// What RocksDB does with a damaged WAL tail when it opens a DB (rocksdb::WALRecoveryMode values).
namespace Fabric.RocksDb;

public enum WalRecoveryMode
{
    /// <summary>Tolerate a torn last record (a crash mid-append), fail on anything else.</summary>
    TolerateCorruptedTailRecords = 0,

    /// <summary>Any corruption in the WAL fails Open.</summary>
    AbsoluteConsistency = 1,

    /// <summary>Replay up to the first corruption and stop there: the DB is a consistent prefix of
    /// the write history. RocksDB's default, and the one that matches "acked writes survive, the
    /// state is a prefix of the write order".</summary>
    PointInTime = 2,

    /// <summary>Skip corrupted records and keep going (salvage mode; may break consistency).</summary>
    SkipAnyCorruptedRecords = 3,
}
