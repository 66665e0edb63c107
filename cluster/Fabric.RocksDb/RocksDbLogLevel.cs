// Verbosity of RocksDB's own LOG file in the DB directory (rocksdb::InfoLogLevel values).
namespace Fabric.RocksDb;

public enum RocksDbLogLevel
{
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
    Fatal = 4,
    Header = 5,
}
