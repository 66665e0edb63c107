// The P/Invoke surface of librocksdb 7.8's C API (include/rocksdb/c.h), and nothing else.
//
// Contract: every declaration here matches the C signature of RocksDB 7.8.3 exactly:
//   * `unsigned char` booleans are `byte` (0 = false), `int` is `int`, `size_t` is `nuint`,
//     `uint64_t` is `ulong`;
//   * opaque `rocksdb_*_t*` objects are passed as our SafeHandle subclasses where we own them, so
//     the marshaller AddRefs the handle for the duration of the call (a handle disposed on another
//     thread cannot be freed under a running native call), and as `nint` where the caller keeps
//     the object alive by other means (a pinnable slice that lives only inside one method);
//   * `char** errptr` is `out nint`: null on success, else a malloc()ed message that the caller
//     must free with `rocksdb_free` (see NativeError).
// Key and value bytes are passed as raw pointers into pinned spans: RocksDB copies what it keeps
// (memtable inserts, write batch contents) before returning, except for iterator bounds, which
// IteratorHandle keeps in its own native memory for the iterator's lifetime.
using System.Runtime.InteropServices;

namespace Fabric.RocksDb.Native;

internal static unsafe partial class NativeMethods
{
    /// <summary>The Debian package librocksdb7.8 installs this soname.</summary>
    public const string Library = "librocksdb.so.7.8";

    // ---- DB lifecycle -------------------------------------------------------------------------

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint rocksdb_open_column_families(
        OptionsHandle options, string name, int numColumnFamilies, nint* columnFamilyNames,
        nint* columnFamilyOptions, nint* columnFamilyHandles, out nint errptr);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint* rocksdb_list_column_families(OptionsHandle options, string name, out nuint count, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_list_column_families_destroy(nint* list, nuint count);

    [LibraryImport(Library)]
    public static partial void rocksdb_close(nint db);

    [LibraryImport(Library)]
    public static partial void rocksdb_free(nint ptr);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial void rocksdb_destroy_db(OptionsHandle options, string name, out nint errptr);

    // ---- column families ----------------------------------------------------------------------

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint rocksdb_create_column_family(DbHandle db, OptionsHandle options, string name, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_drop_column_family(DbHandle db, ColumnFamilyHandle handle, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_column_family_handle_destroy(nint handle);

    // ---- point reads and writes ---------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial void rocksdb_put_cf(
        DbHandle db, WriteOptionsHandle options, ColumnFamilyHandle cf,
        byte* key, nuint keyLength, byte* value, nuint valueLength, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_delete_cf(
        DbHandle db, WriteOptionsHandle options, ColumnFamilyHandle cf, byte* key, nuint keyLength, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_delete_range_cf(
        DbHandle db, WriteOptionsHandle options, ColumnFamilyHandle cf,
        byte* startKey, nuint startKeyLength, byte* endKey, nuint endKeyLength, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_write(DbHandle db, WriteOptionsHandle options, WriteBatchHandle batch, out nint errptr);

    /// <summary>Null when the key does not exist; else a pinnable slice to destroy.</summary>
    [LibraryImport(Library)]
    public static partial nint rocksdb_get_pinned_cf(
        DbHandle db, ReadOptionsHandle options, ColumnFamilyHandle cf, byte* key, nuint keyLength, out nint errptr);

    [LibraryImport(Library)]
    public static partial byte* rocksdb_pinnableslice_value(nint slice, out nuint valueLength);

    [LibraryImport(Library)]
    public static partial void rocksdb_pinnableslice_destroy(nint slice);

    /// <summary>RocksDB's batched MultiGet: one pass through memtables, filters, indexes and blob files for
    /// all keys; each found value comes back as a pinnable slice to destroy (null when absent).</summary>
    [LibraryImport(Library)]
    public static partial void rocksdb_batched_multi_get_cf(
        DbHandle db, ReadOptionsHandle options, ColumnFamilyHandle cf, nuint numKeys,
        byte** keys, nuint* keySizes, nint* values, nint* errors, [MarshalAs(UnmanagedType.U1)] bool sortedInput);

    [LibraryImport(Library)]
    public static partial void rocksdb_multi_get_cf(
        DbHandle db, ReadOptionsHandle options, nint* columnFamilies, nuint numKeys,
        byte** keys, nuint* keySizes, byte** values, nuint* valueSizes, nint* errors);

    // ---- maintenance --------------------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial void rocksdb_flush_wal(DbHandle db, byte sync, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_flush_cf(DbHandle db, FlushOptionsHandle options, ColumnFamilyHandle cf, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_flush(DbHandle db, FlushOptionsHandle options, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_compact_range_cf(
        DbHandle db, ColumnFamilyHandle cf, byte* startKey, nuint startKeyLength, byte* limitKey, nuint limitKeyLength);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint rocksdb_property_value_cf(DbHandle db, ColumnFamilyHandle cf, string name);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rocksdb_property_int_cf(DbHandle db, ColumnFamilyHandle cf, string name, out ulong value);

    [LibraryImport(Library)]
    public static partial nint rocksdb_checkpoint_object_create(DbHandle db, out nint errptr);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial void rocksdb_checkpoint_create(nint checkpoint, string directory, ulong logSizeForFlush, out nint errptr);

    [LibraryImport(Library)]
    public static partial void rocksdb_checkpoint_object_destroy(nint checkpoint);

    // ---- snapshots ----------------------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial nint rocksdb_create_snapshot(DbHandle db);

    /// <summary>Raw db pointer: called from SnapshotHandle.ReleaseHandle, when the db SafeHandle may
    /// already be marked closed (but not yet released, because the snapshot holds a reference).</summary>
    [LibraryImport(Library)]
    public static partial void rocksdb_release_snapshot(nint db, nint snapshot);

    // ---- iterators ----------------------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial nint rocksdb_create_iterator_cf(DbHandle db, nint readOptions, ColumnFamilyHandle cf);

    [LibraryImport(Library)]
    public static partial void rocksdb_iter_destroy(nint iterator);

    [LibraryImport(Library)]
    public static partial byte rocksdb_iter_valid(IteratorHandle iterator);

    [LibraryImport(Library)]
    public static partial void rocksdb_iter_seek_to_first(IteratorHandle iterator);

    [LibraryImport(Library)]
    public static partial void rocksdb_iter_seek_to_last(IteratorHandle iterator);

    [LibraryImport(Library)]
    public static partial void rocksdb_iter_seek(IteratorHandle iterator, byte* key, nuint keyLength);

    [LibraryImport(Library)]
    public static partial void rocksdb_iter_seek_for_prev(IteratorHandle iterator, byte* key, nuint keyLength);

    [LibraryImport(Library)]
    public static partial void rocksdb_iter_next(IteratorHandle iterator);

    [LibraryImport(Library)]
    public static partial void rocksdb_iter_prev(IteratorHandle iterator);

    [LibraryImport(Library)]
    public static partial byte* rocksdb_iter_key(IteratorHandle iterator, out nuint keyLength);

    [LibraryImport(Library)]
    public static partial byte* rocksdb_iter_value(IteratorHandle iterator, out nuint valueLength);

    [LibraryImport(Library)]
    public static partial void rocksdb_iter_get_error(IteratorHandle iterator, out nint errptr);

    // ---- write batches ------------------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial nint rocksdb_writebatch_create();

    [LibraryImport(Library)]
    public static partial void rocksdb_writebatch_destroy(nint batch);

    [LibraryImport(Library)]
    public static partial void rocksdb_writebatch_clear(WriteBatchHandle batch);

    [LibraryImport(Library)]
    public static partial int rocksdb_writebatch_count(WriteBatchHandle batch);

    /// <summary>The batch's serialized form (RocksDB's WriteBatch rep); valid until the batch changes.</summary>
    [LibraryImport(Library)]
    public static partial byte* rocksdb_writebatch_data(WriteBatchHandle batch, out nuint size);

    /// <summary>A new batch holding a copy of <paramref name="rep"/> (a WriteBatch rep).</summary>
    [LibraryImport(Library)]
    public static partial nint rocksdb_writebatch_create_from(byte* rep, nuint size);

    [LibraryImport(Library)]
    public static partial void rocksdb_writebatch_put_cf(
        WriteBatchHandle batch, ColumnFamilyHandle cf, byte* key, nuint keyLength, byte* value, nuint valueLength);

    [LibraryImport(Library)]
    public static partial void rocksdb_writebatch_putv_cf(
        WriteBatchHandle batch, ColumnFamilyHandle cf, int numKeys, byte** keys, nuint* keySizes,
        int numValues, byte** values, nuint* valueSizes);

    [LibraryImport(Library)]
    public static partial void rocksdb_writebatch_delete_cf(WriteBatchHandle batch, ColumnFamilyHandle cf, byte* key, nuint keyLength);

    [LibraryImport(Library)]
    public static partial void rocksdb_writebatch_delete_range_cf(
        WriteBatchHandle batch, ColumnFamilyHandle cf, byte* startKey, nuint startKeyLength, byte* endKey, nuint endKeyLength);

    // ---- options ------------------------------------------------------------------------------

    [LibraryImport(Library)]
    public static partial nint rocksdb_options_create();

    [LibraryImport(Library)]
    public static partial void rocksdb_options_destroy(nint options);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_create_if_missing(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_create_missing_column_families(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_paranoid_checks(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_write_buffer_size(OptionsHandle options, nuint bytes);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_enable_blob_files(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_min_blob_size(OptionsHandle options, ulong bytes);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_blob_file_size(OptionsHandle options, ulong bytes);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_enable_blob_gc(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_blob_gc_age_cutoff(OptionsHandle options, double cutoff);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_max_background_jobs(OptionsHandle options, int jobs);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_compression(OptionsHandle options, int compression);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_manual_wal_flush(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_use_fsync(OptionsHandle options, int value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_bytes_per_sync(OptionsHandle options, ulong bytes);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_wal_bytes_per_sync(OptionsHandle options, ulong bytes);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_max_open_files(OptionsHandle options, int files);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_max_total_wal_size(OptionsHandle options, ulong bytes);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_allow_concurrent_memtable_write(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_enable_pipelined_write(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_unordered_write(OptionsHandle options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_wal_recovery_mode(OptionsHandle options, int mode);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_info_log_level(OptionsHandle options, int level);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial void rocksdb_options_set_db_log_dir(OptionsHandle options, string directory);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_keep_log_file_num(OptionsHandle options, nuint count);

    [LibraryImport(Library)]
    public static partial void rocksdb_options_set_block_based_table_factory(OptionsHandle options, nint tableOptions);

    [LibraryImport(Library)]
    public static partial nint rocksdb_block_based_options_create();

    [LibraryImport(Library)]
    public static partial void rocksdb_block_based_options_destroy(nint tableOptions);

    [LibraryImport(Library)]
    public static partial void rocksdb_block_based_options_set_block_cache(nint tableOptions, nint cache);

    [LibraryImport(Library)]
    public static partial void rocksdb_block_based_options_set_no_block_cache(nint tableOptions, byte value);

    /// <summary>Takes ownership of the policy: never destroy it after this call.</summary>
    [LibraryImport(Library)]
    public static partial void rocksdb_block_based_options_set_filter_policy(nint tableOptions, nint filterPolicy);

    [LibraryImport(Library)]
    public static partial void rocksdb_block_based_options_set_cache_index_and_filter_blocks(nint tableOptions, byte value);

    [LibraryImport(Library)]
    public static partial nint rocksdb_filterpolicy_create_bloom_full(double bitsPerKey);

    [LibraryImport(Library)]
    public static partial nint rocksdb_cache_create_lru(nuint capacityBytes);

    [LibraryImport(Library)]
    public static partial void rocksdb_cache_destroy(nint cache);

    [LibraryImport(Library)]
    public static partial nint rocksdb_readoptions_create();

    [LibraryImport(Library)]
    public static partial void rocksdb_readoptions_destroy(nint options);

    [LibraryImport(Library)]
    public static partial void rocksdb_readoptions_set_snapshot(nint options, nint snapshot);

    [LibraryImport(Library)]
    public static partial void rocksdb_readoptions_set_verify_checksums(nint options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_readoptions_set_fill_cache(nint options, byte value);

    /// <summary>RocksDB keeps the pointer, not a copy: the bytes must outlive the options.</summary>
    [LibraryImport(Library)]
    public static partial void rocksdb_readoptions_set_iterate_lower_bound(nint options, byte* key, nuint keyLength);

    /// <summary>RocksDB keeps the pointer, not a copy: the bytes must outlive the options.</summary>
    [LibraryImport(Library)]
    public static partial void rocksdb_readoptions_set_iterate_upper_bound(nint options, byte* key, nuint keyLength);

    [LibraryImport(Library)]
    public static partial nint rocksdb_writeoptions_create();

    [LibraryImport(Library)]
    public static partial void rocksdb_writeoptions_destroy(nint options);

    [LibraryImport(Library)]
    public static partial void rocksdb_writeoptions_set_sync(nint options, byte value);

    [LibraryImport(Library)]
    public static partial void rocksdb_writeoptions_disable_WAL(nint options, int disable);

    [LibraryImport(Library)]
    public static partial nint rocksdb_flushoptions_create();

    [LibraryImport(Library)]
    public static partial void rocksdb_flushoptions_destroy(nint options);

    [LibraryImport(Library)]
    public static partial void rocksdb_flushoptions_set_wait(nint options, byte value);
}
