// What kind of failure a RocksDB status reported, read from the fixed prefix that
// rocksdb::Status::ToString() puts in front of every message ("IO error: ...").
namespace Fabric.RocksDb;

public enum RocksDbErrorKind
{
    Unknown,
    NotFound,
    Corruption,
    NotSupported,
    InvalidArgument,
    IOError,
    Busy,
    TimedOut,
    Aborted,
    Incomplete,
    ShutdownInProgress,
    TryAgain,
    ColumnFamilyDropped,
}
