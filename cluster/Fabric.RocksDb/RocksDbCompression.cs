// Block compression for SST files. The values are RocksDB's CompressionType numbers, passed
// straight to rocksdb_options_set_compression. Debian's librocksdb7.8 links snappy, zlib, bzip2,
// lz4 and zstd; a type the library lacks makes Open fail with RocksDB's "Invalid argument:
// Compression type ... is not linked with the binary".
namespace Fabric.RocksDb;

public enum RocksDbCompression
{
    None = 0,
    Snappy = 1,
    Lz4 = 4,
    Zstd = 7,
}
