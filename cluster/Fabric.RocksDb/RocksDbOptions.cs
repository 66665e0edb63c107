// How a RocksDatabase is opened: the subset of rocksdb::Options a Fabric store needs, each with
// the reason it is here. Every column family is opened with the same options. Immutable; the
// defaults suit a node's object store on this project's 2-CPU machines.
namespace Fabric.RocksDb;

public sealed record RocksDbOptions
{
    /// <summary>Create the DB (and its parent directories) when it does not exist. Off for tools
    /// that must not invent an empty store where one was expected.</summary>
    public bool CreateIfMissing { get; init; } = true;

    /// <summary>Create column families named in Open that the DB does not have yet. When off, a
    /// missing one fails Open with RocksDB's "Invalid argument: Column family not found".</summary>
    public bool CreateMissingColumnFamilies { get; init; } = true;

    /// <summary>Verify checksums aggressively and stop on the first sign of corruption rather than
    /// serve bad data (RocksDB's default; kept explicit because it is a promise we make).</summary>
    public bool ParanoidChecks { get; init; } = true;

    /// <summary>Size of one memtable per column family before it is flushed to an SST. Bigger
    /// absorbs more overwrites of hot blocks; each column family can hold a few of these in RAM.</summary>
    public long WriteBufferSizeBytes { get; init; } = 64L << 20;

    /// <summary>Threads for flushes and compactions together. The machines have 2 CPUs shared with
    /// replication and the block backend, so keep it small.</summary>
    public int MaxBackgroundJobs { get; init; } = 2;

    /// <summary>SST block compression. Lz4 is cheap on CPU; block data that does not compress
    /// (random or encrypted guest data) is stored raw by RocksDB after a failed attempt.</summary>
    public RocksDbCompression Compression { get; init; } = RocksDbCompression.Lz4;

    /// <summary>Shared LRU block cache for reads, in bytes; 0 disables the block cache.</summary>
    public long BlockCacheSizeBytes { get; init; } = 64L << 20;

    /// <summary>Bits per key of the full-key Bloom filter in every SST, so point reads of absent
    /// keys skip files; 10 gives about 1% false positives. 0 disables the filter.</summary>
    public double BloomFilterBitsPerKey { get; init; } = 10;

    /// <summary>Keep WAL appends in RocksDB's own buffer until FlushWal is called. With sync=false
    /// writes and one FlushWal(sync: true) for many writers (DurableWriter), this is the fastest
    /// durable group commit measured here. Without FlushWal, buffered writes are lost when the
    /// process dies (Dispose flushes them on a clean close).</summary>
    public bool ManualWalFlush { get; init; }

    /// <summary>fsync instead of fdatasync when syncing files. fdatasync is enough on ext4 for
    /// appended, preallocated WAL files; turn on only for filesystems that need it.</summary>
    public bool UseFsync { get; init; }

    /// <summary>Ask the OS to write SST data back every this many bytes (sync_file_range), so
    /// flushes and compactions do not build a burst of dirty pages that stalls fsyncs of the WAL.
    /// 0 disables.</summary>
    public long BytesPerSync { get; init; } = 1L << 20;

    /// <summary>The same incremental write-back for the WAL; 0 (off) because durable writes sync
    /// the WAL explicitly anyway.</summary>
    public long WalBytesPerSync { get; init; }

    /// <summary>Upper bound on open SST files; -1 keeps all open (fastest reads, one fd per SST).</summary>
    public int MaxOpenFiles { get; init; } = 1000;

    /// <summary>Total WAL size that forces the column families holding the oldest WAL to flush, so
    /// a rarely written column family cannot pin old WAL files forever. 0 lets RocksDB pick
    /// (4 x the memtable budget).</summary>
    public long MaxTotalWalSizeBytes { get; init; }

    /// <summary>Let concurrent writers insert into the memtable in parallel (RocksDB default on).</summary>
    public bool AllowConcurrentMemtableWrite { get; init; } = true;

    /// <summary>Pipeline WAL appends and memtable inserts of consecutive write groups: more
    /// throughput with many concurrent writers at the same durability.</summary>
    public bool EnablePipelinedWrite { get; init; }

    /// <summary>Let writes become visible out of order for throughput. Breaks snapshot immutability
    /// (a snapshot may see a later write but not an earlier one), so leave it off unless the data
    /// never uses snapshots; incompatible with EnablePipelinedWrite.</summary>
    public bool UnorderedWrite { get; init; }

    /// <summary>How a damaged WAL tail is handled on open; PointInTime recovers a consistent prefix.</summary>
    public WalRecoveryMode WalRecovery { get; init; } = WalRecoveryMode.PointInTime;

    /// <summary>Verbosity of RocksDB's LOG file in the DB directory.</summary>
    public RocksDbLogLevel LogLevel { get; init; } = RocksDbLogLevel.Info;

    /// <summary>Where RocksDB writes its info LOG; null = the DB directory. Put it on another
    /// filesystem than the data for a store: Debian's librocksdb7.8 is built with assertions on,
    /// and once a LOG write fails (disk full) the next log line aborts the whole process
    /// (assert in WritableFileWriter). RocksDB names the file after the DB path there, so several
    /// databases can share one directory. Created if missing.</summary>
    public string? LogDirectory { get; init; }

    /// <summary>How many old LOG files RocksDB keeps.</summary>
    public int KeepLogFileCount { get; init; } = 5;

    /// <summary>Values of at least this many bytes go to blob files (RocksDB's integrated BlobDB)
    /// instead of the SST files, so compactions move only keys and small values: much less write
    /// amplification for large values (an object store's 4 KiB blocks). 0 = off.</summary>
    public long MinBlobSizeBytes { get; init; }

    /// <summary>Target size of one blob file.</summary>
    public long BlobFileSizeBytes { get; init; } = 256L << 20;

    /// <summary>Blob garbage collection during compaction: blob files older than this fraction of all
    /// blob files are rewritten when compaction meets them, which frees the space of overwritten values.</summary>
    public double BlobGcAgeCutoff { get; init; } = 0.25;

    /// <summary>Throws ArgumentException for values RocksDB would misread or reject obscurely.</summary>
    public void Validate()
    {
        if (WriteBufferSizeBytes <= 0) throw new ArgumentException("WriteBufferSizeBytes must be positive", nameof(WriteBufferSizeBytes));
        if (MaxBackgroundJobs <= 0) throw new ArgumentException("MaxBackgroundJobs must be positive", nameof(MaxBackgroundJobs));
        if (BlockCacheSizeBytes < 0) throw new ArgumentException("BlockCacheSizeBytes must be 0 or positive", nameof(BlockCacheSizeBytes));
        if (MinBlobSizeBytes < 0) throw new ArgumentException("MinBlobSizeBytes must be 0 or positive", nameof(MinBlobSizeBytes));
        if (BlobFileSizeBytes <= 0) throw new ArgumentException("BlobFileSizeBytes must be positive", nameof(BlobFileSizeBytes));
        if (BlobGcAgeCutoff is < 0 or > 1) throw new ArgumentException("BlobGcAgeCutoff must be between 0 and 1", nameof(BlobGcAgeCutoff));
        if (BloomFilterBitsPerKey < 0) throw new ArgumentException("BloomFilterBitsPerKey must be 0 or positive", nameof(BloomFilterBitsPerKey));
        if (BytesPerSync < 0 || WalBytesPerSync < 0 || MaxTotalWalSizeBytes < 0)
            throw new ArgumentException("byte counts must be 0 or positive");
        if (MaxOpenFiles == 0 || MaxOpenFiles < -1) throw new ArgumentException("MaxOpenFiles must be -1 or positive", nameof(MaxOpenFiles));
        if (LogDirectory is { Length: 0 }) throw new ArgumentException("LogDirectory must be null or a path", nameof(LogDirectory));
        if (KeepLogFileCount <= 0) throw new ArgumentException("KeepLogFileCount must be positive", nameof(KeepLogFileCount));
        if (!Enum.IsDefined(Compression)) throw new ArgumentException($"unknown compression {Compression}", nameof(Compression));
        if (UnorderedWrite && EnablePipelinedWrite)
            throw new ArgumentException("UnorderedWrite and EnablePipelinedWrite cannot both be on (RocksDB rejects it)");
    }
}
