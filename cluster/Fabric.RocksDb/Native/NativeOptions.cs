// Builds the native rocksdb_options_t for a RocksDbOptions. Ownership rules of the C API that
// matter here: the LRU cache is held by a shared_ptr inside the table options (so our wrapper is
// destroyed right after), the filter policy is owned by the table options once set (never
// destroyed by us), and rocksdb_options_set_block_based_table_factory copies the table options
// into a new factory (so they are destroyed right after too).
namespace Fabric.RocksDb.Native;

internal static class NativeOptions
{
    public static OptionsHandle Build(RocksDbOptions options)
    {
        options.Validate();
        var handle = new OptionsHandle();
        try
        {
            NativeMethods.rocksdb_options_set_create_if_missing(handle, B(options.CreateIfMissing));
            NativeMethods.rocksdb_options_set_create_missing_column_families(handle, B(options.CreateMissingColumnFamilies));
            NativeMethods.rocksdb_options_set_paranoid_checks(handle, B(options.ParanoidChecks));
            NativeMethods.rocksdb_options_set_write_buffer_size(handle, (nuint)options.WriteBufferSizeBytes);
            NativeMethods.rocksdb_options_set_max_background_jobs(handle, options.MaxBackgroundJobs);
            NativeMethods.rocksdb_options_set_compression(handle, (int)options.Compression);
            NativeMethods.rocksdb_options_set_manual_wal_flush(handle, B(options.ManualWalFlush));
            NativeMethods.rocksdb_options_set_use_fsync(handle, options.UseFsync ? 1 : 0);
            NativeMethods.rocksdb_options_set_bytes_per_sync(handle, (ulong)options.BytesPerSync);
            NativeMethods.rocksdb_options_set_wal_bytes_per_sync(handle, (ulong)options.WalBytesPerSync);
            NativeMethods.rocksdb_options_set_max_open_files(handle, options.MaxOpenFiles);
            NativeMethods.rocksdb_options_set_max_total_wal_size(handle, (ulong)options.MaxTotalWalSizeBytes);
            NativeMethods.rocksdb_options_set_allow_concurrent_memtable_write(handle, B(options.AllowConcurrentMemtableWrite));
            NativeMethods.rocksdb_options_set_enable_pipelined_write(handle, B(options.EnablePipelinedWrite));
            NativeMethods.rocksdb_options_set_unordered_write(handle, B(options.UnorderedWrite));
            NativeMethods.rocksdb_options_set_wal_recovery_mode(handle, (int)options.WalRecovery);
            NativeMethods.rocksdb_options_set_info_log_level(handle, (int)options.LogLevel);
            NativeMethods.rocksdb_options_set_keep_log_file_num(handle, (nuint)options.KeepLogFileCount);
            if (options.MinBlobSizeBytes > 0)
            {
                NativeMethods.rocksdb_options_set_enable_blob_files(handle, 1);
                NativeMethods.rocksdb_options_set_min_blob_size(handle, (ulong)options.MinBlobSizeBytes);
                NativeMethods.rocksdb_options_set_blob_file_size(handle, (ulong)options.BlobFileSizeBytes);
                NativeMethods.rocksdb_options_set_enable_blob_gc(handle, 1);
                NativeMethods.rocksdb_options_set_blob_gc_age_cutoff(handle, options.BlobGcAgeCutoff);
            }
            if (options.LogDirectory is not null)
            {
                string logDirectory = Path.GetFullPath(options.LogDirectory);
                Directory.CreateDirectory(logDirectory);
                NativeMethods.rocksdb_options_set_db_log_dir(handle, logDirectory);
            }

            nint table = NativeMethods.rocksdb_block_based_options_create();
            try
            {
                if (options.BlockCacheSizeBytes > 0)
                {
                    nint cache = NativeMethods.rocksdb_cache_create_lru((nuint)options.BlockCacheSizeBytes);
                    NativeMethods.rocksdb_block_based_options_set_block_cache(table, cache);
                    NativeMethods.rocksdb_cache_destroy(cache);
                }
                else
                {
                    NativeMethods.rocksdb_block_based_options_set_no_block_cache(table, 1);
                }
                if (options.BloomFilterBitsPerKey > 0)
                {
                    NativeMethods.rocksdb_block_based_options_set_filter_policy(
                        table, NativeMethods.rocksdb_filterpolicy_create_bloom_full(options.BloomFilterBitsPerKey));
                }
                NativeMethods.rocksdb_options_set_block_based_table_factory(handle, table);
            }
            finally
            {
                NativeMethods.rocksdb_block_based_options_destroy(table);
            }
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static byte B(bool value) => value ? (byte)1 : (byte)0;
}
