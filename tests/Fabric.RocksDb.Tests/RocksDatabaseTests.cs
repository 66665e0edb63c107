// Point reads and writes, the allocation-free read paths, options, maintenance calls and
// properties of RocksDatabase against the real librocksdb.
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class RocksDatabaseTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Open_creates_parent_directories_and_the_default_column_family()
    {
        string path = _dir.Sub("a", "b", "c", "db");
        using var db = RocksDatabase.Open(path);
        Assert.True(File.Exists(Path.Combine(path, "CURRENT")));
        Assert.Equal(path, db.Path);
        Assert.Equal(["default"], db.ColumnFamilyNames);
    }

    [Fact]
    public void Put_get_delete_round_trip_including_empty_key_and_value()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        db.Put(Bytes.Of("k1"), Bytes.Of("v1"));
        db.Put(Bytes.Of("k2"), Bytes.Of("v2"), sync: true);
        db.Put([], Bytes.Of("empty-key"));
        db.Put(Bytes.Of("empty-value"), []);

        Assert.Equal("v1", Bytes.Text(db.Get(Bytes.Of("k1"))));
        Assert.Equal("v2", Bytes.Text(db.Get(Bytes.Of("k2"))));
        Assert.Equal("empty-key", Bytes.Text(db.Get([])));
        Assert.Equal<byte[]?>([], db.Get(Bytes.Of("empty-value")));
        Assert.Null(db.Get(Bytes.Of("absent")));

        db.Put(Bytes.Of("k1"), Bytes.Of("v1b"));
        Assert.Equal("v1b", Bytes.Text(db.Get(Bytes.Of("k1"))));
        db.Delete(Bytes.Of("k1"));
        Assert.Null(db.Get(Bytes.Of("k1")));
    }

    [Fact]
    public void Get_into_span_reports_found_not_found_and_buffer_too_small()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        var value = new byte[4096];
        new Random(7).NextBytes(value);
        db.Put(cf, Bytes.Of("block"), value);

        var buffer = new byte[8192];
        Assert.Equal(GetStatus.Found, db.Get(cf, Bytes.Of("block"), buffer, out int length));
        Assert.Equal(4096, length);
        Assert.True(buffer.AsSpan(0, length).SequenceEqual(value));

        var small = new byte[100];
        Assert.Equal(GetStatus.BufferTooSmall, db.Get(cf, Bytes.Of("block"), small, out length));
        Assert.Equal(4096, length);
        Assert.All(small, b => Assert.Equal(0, b));

        Assert.Equal(GetStatus.NotFound, db.Get(cf, Bytes.Of("nothing"), buffer, out length));
        Assert.Equal(0, length);
    }

    [Fact]
    public void TryGet_reads_the_pinned_value_in_place_from_memtable_and_from_sst()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        db.Put(cf, Bytes.Of("k"), Bytes.Of("hello world"));

        Assert.True(db.TryGet(cf, Bytes.Of("k"), 6, (value, skip) => Bytes.Text(value[skip..]), out string? fromMemtable));
        Assert.Equal("world", fromMemtable);

        db.Flush(cf);
        Assert.True(db.TryGet(cf, Bytes.Of("k"), 0, (value, _) => value.Length, out int fromSst));
        Assert.Equal(11, fromSst);

        Assert.False(db.TryGet(cf, Bytes.Of("nope"), 0, (value, _) => value.Length, out int missing));
        Assert.Equal(0, missing);
    }

    [Fact]
    public void DeleteRange_removes_exactly_the_half_open_range()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        foreach (var k in new[] { "a", "b", "ba", "c", "d" }) db.Put(cf, Bytes.Of(k), Bytes.Of(k));
        db.DeleteRange(cf, Bytes.Of("b"), Bytes.Of("d"));
        Assert.NotNull(db.Get(Bytes.Of("a")));
        Assert.Null(db.Get(Bytes.Of("b")));
        Assert.Null(db.Get(Bytes.Of("ba")));
        Assert.Null(db.Get(Bytes.Of("c")));
        Assert.NotNull(db.Get(Bytes.Of("d")));
        // The tombstone also hides the range after a flush to SST.
        db.Flush();
        Assert.Null(db.Get(Bytes.Of("c")));
        Assert.NotNull(db.Get(Bytes.Of("d")));
    }

    [Fact]
    public void MultiGet_returns_values_in_key_order_with_nulls_for_absent_keys()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        db.Put(cf, Bytes.Of("x"), Bytes.Of("1"));
        db.Put(cf, Bytes.Of("z"), Bytes.Of("3"));
        var values = db.MultiGet(cf, [Bytes.Of("z"), Bytes.Of("y"), Bytes.Of("x"), []]);
        Assert.Equal(["3", null, "1", null], values.Select(Bytes.Text));
        Assert.Empty(db.MultiGet(cf, []));
    }

    [Fact]
    public void Batched_MultiGet_fills_slots_marks_absent_keys_and_reports_values_too_long_for_their_slot()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"), new RocksDbOptions { MinBlobSizeBytes = 64 });
        var cf = db.DefaultColumnFamily;
        var big = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray(); // a blob-file value
        db.Put(cf, Bytes.Of("a"), Bytes.Of("1"));
        db.Put(cf, Bytes.Of("c"), big);
        db.Put(cf, Bytes.Of("d"), Bytes.Of("4444"));
        db.Flush(); // c goes to a blob file, the others to an SST
        db.Put(cf, Bytes.Of("e"), Bytes.Of("5")); // memtable
        byte[] keys = Bytes.Of("abcde");
        int[] keyLengths = [1, 1, 1, 1, 1];
        const int slot = 100;
        var values = new byte[5 * slot];
        var lengths = new int[5];
        foreach (bool verify in new[] { true, false })
        {
            Array.Clear(values);
            db.MultiGet(cf, keys, keyLengths, values, slot, lengths, verifyChecksums: verify);
            Assert.Equal([1, -1, 100, 4, 1], lengths);
            Assert.Equal("1", Bytes.Text(values.AsSpan(0, 1).ToArray()));
            Assert.Equal(big, values.AsSpan(2 * slot, 100).ToArray());
            Assert.Equal("4444", Bytes.Text(values.AsSpan(3 * slot, 4).ToArray()));
            Assert.Equal("5", Bytes.Text(values.AsSpan(4 * slot, 1).ToArray()));
        }
        // A slot too small: the length says so and nothing is copied.
        var small = new byte[5 * 4];
        db.MultiGet(cf, keys, keyLengths, small, 4, lengths);
        Assert.Equal([1, -1, 100, 4, 1], lengths);
        Assert.All(small.AsSpan(8, 4).ToArray(), b => Assert.Equal(0, b));
        // Bad calls are refused with the reason, before RocksDB sees them.
        Assert.Contains("ascending", Assert.Throws<ArgumentException>(() => db.MultiGet(cf, Bytes.Of("ba"), [1, 1], values, slot, lengths)).Message);
        Assert.Contains("outside", Assert.Throws<ArgumentException>(() => db.MultiGet(cf, Bytes.Of("ab"), [1, 2], values, slot, lengths)).Message);
        Assert.Throws<ArgumentException>(() => db.MultiGet(cf, keys, keyLengths, new byte[10], slot, lengths));
    }

    [Fact]
    public void Unverified_gets_read_the_same_values()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"), new RocksDbOptions { MinBlobSizeBytes = 64 });
        var cf = db.DefaultColumnFamily;
        var big = Enumerable.Range(0, 200).Select(i => (byte)(i * 7)).ToArray();
        db.Put(cf, Bytes.Of("k"), big);
        db.Flush();
        var buffer = new byte[256];
        Assert.Equal(GetStatus.Found, db.Get(cf, Bytes.Of("k"), buffer, out int length, verifyChecksums: false));
        Assert.Equal(big, buffer.AsSpan(0, length).ToArray());
        Assert.Equal(GetStatus.NotFound, db.Get(cf, Bytes.Of("x"), buffer, out _, verifyChecksums: false));
    }

    [Fact]
    public void Data_survives_close_and_reopen()
    {
        string path = _dir.Sub("db");
        using (var db = RocksDatabase.Open(path))
        {
            for (int i = 0; i < 1000; i++) db.Put(Bytes.Of($"key{i:D4}"), Bytes.Of($"value{i}"));
        }
        using (var db = RocksDatabase.Open(path))
        {
            for (int i = 0; i < 1000; i++) Assert.Equal($"value{i}", Bytes.Text(db.Get(Bytes.Of($"key{i:D4}"))));
        }
    }

    [Fact]
    public void Manual_wal_flush_writes_survive_a_clean_close_without_explicit_FlushWal()
    {
        string path = _dir.Sub("db");
        var options = new RocksDbOptions { ManualWalFlush = true };
        using (var db = RocksDatabase.Open(path, options))
        {
            db.Put(Bytes.Of("buffered"), Bytes.Of("in RocksDB's WAL buffer"));
        }
        using (var db = RocksDatabase.Open(path, options))
        {
            Assert.Equal("in RocksDB's WAL buffer", Bytes.Text(db.Get(Bytes.Of("buffered"))));
        }
    }

    [Fact]
    public void FlushWal_and_Flush_and_CompactRange_run_and_move_data_into_sst_files()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"), new RocksDbOptions { ManualWalFlush = true });
        var value = new byte[4096];
        for (int i = 0; i < 500; i++) db.Put(Bytes.Of($"k{i:D4}"), value);
        db.FlushWal(sync: false);
        db.FlushWal(sync: true);
        Assert.Equal(0UL, db.GetIntProperty(RocksDbProperty.TotalSstFilesSize));

        db.Flush();
        Assert.True(db.GetIntProperty(RocksDbProperty.TotalSstFilesSize) > 0);
        Assert.Equal("1", db.GetProperty(RocksDbProperty.NumFilesAtLevelPrefix + "0"));

        for (int i = 0; i < 500; i++) db.Delete(Bytes.Of($"k{i:D4}"));
        db.Flush();
        db.CompactRange();
        Assert.Equal(0UL, db.GetIntProperty(RocksDbProperty.EstimateNumKeys));
        db.CompactRange(db.DefaultColumnFamily, Bytes.Of("k0100"), Bytes.Of("k0200"));
    }

    [Fact]
    public void Properties_report_numbers_and_text_and_null_for_unknown_names()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        for (int i = 0; i < 100; i++) db.Put(Bytes.Of($"k{i}"), Bytes.Of("v"));
        Assert.Equal(100UL, db.GetIntProperty(RocksDbProperty.EstimateNumKeys));
        Assert.Equal("100", db.GetProperty(RocksDbProperty.EstimateNumKeys));
        Assert.Contains("Compaction Stats", db.GetProperty(RocksDbProperty.Stats));
        Assert.Null(db.GetProperty("rocksdb.no-such-property"));
        Assert.Null(db.GetIntProperty("rocksdb.no-such-property"));
    }

    [Theory]
    [InlineData(RocksDbCompression.None)]
    [InlineData(RocksDbCompression.Snappy)]
    [InlineData(RocksDbCompression.Lz4)]
    [InlineData(RocksDbCompression.Zstd)]
    public void Every_offered_compression_is_linked_into_the_library(RocksDbCompression compression)
    {
        string path = _dir.Sub("db");
        var options = new RocksDbOptions { Compression = compression };
        var value = new byte[4096];
        using (var db = RocksDatabase.Open(path, options))
        {
            for (int i = 0; i < 200; i++) db.Put(Bytes.Of($"k{i:D3}"), value);
            db.Flush();
        }
        using (var db = RocksDatabase.Open(path, options))
        {
            Assert.Equal(value, db.Get(Bytes.Of("k123")));
        }
    }

    [Fact]
    public void Store_options_are_accepted_by_rocksdb()
    {
        // Every knob RocksDbOptions offers, away from its default, must be one RocksDB accepts.
        var options = new RocksDbOptions
        {
            ParanoidChecks = false,
            WriteBufferSizeBytes = 1 << 20,
            MaxBackgroundJobs = 1,
            BlockCacheSizeBytes = 0,
            BloomFilterBitsPerKey = 0,
            ManualWalFlush = true,
            UseFsync = true,
            BytesPerSync = 0,
            WalBytesPerSync = 512 << 10,
            MaxOpenFiles = -1,
            MaxTotalWalSizeBytes = 16 << 20,
            AllowConcurrentMemtableWrite = false,
            EnablePipelinedWrite = true,
            WalRecovery = WalRecoveryMode.AbsoluteConsistency,
            LogLevel = RocksDbLogLevel.Error,
            KeepLogFileCount = 1,
            LogDirectory = _dir.Sub("logs", "rocksdb"),
        };
        using (var db = RocksDatabase.Open(_dir.Sub("a"), options))
        {
            db.Put(Bytes.Of("k"), Bytes.Of("v"), sync: true);
            Assert.Equal("v", Bytes.Text(db.Get(Bytes.Of("k"))));
        }
        // The info LOG went to LogDirectory (named after the DB path), not into the DB directory.
        Assert.False(File.Exists(Path.Combine(_dir.Sub("a"), "LOG")));
        Assert.Single(Directory.GetFiles(_dir.Sub("logs", "rocksdb"), "*_LOG"));
        using (var db = RocksDatabase.Open(_dir.Sub("b"), new RocksDbOptions { UnorderedWrite = true }))
        {
            db.Put(Bytes.Of("k"), Bytes.Of("v"));
            Assert.Equal("v", Bytes.Text(db.Get(Bytes.Of("k"))));
        }
    }

    [Fact]
    public void Checkpoint_is_an_openable_copy_as_of_its_creation()
    {
        string path = _dir.Sub("db");
        string checkpoint = _dir.Sub("backups", "cp1");
        using (var db = RocksDatabase.Open(path, columnFamilies: ["objects"]))
        {
            db.Put(db.GetColumnFamily("objects"), Bytes.Of("o1"), Bytes.Of("before"));
            db.CreateCheckpoint(checkpoint);
            db.Put(db.GetColumnFamily("objects"), Bytes.Of("o1"), Bytes.Of("after"));
        }
        using var copy = RocksDatabase.Open(checkpoint);
        Assert.Equal(["default", "objects"], copy.ColumnFamilyNames);
        Assert.Equal("before", Bytes.Text(copy.Get(copy.GetColumnFamily("objects"), Bytes.Of("o1"))));
    }

    [Fact]
    public void Destroy_removes_the_database()
    {
        string path = _dir.Sub("db");
        using (var db = RocksDatabase.Open(path)) db.Put(Bytes.Of("k"), Bytes.Of("v"));
        RocksDatabase.Destroy(path);
        Assert.False(File.Exists(Path.Combine(path, "CURRENT")));
    }

    [Fact]
    public void Concurrent_writers_and_readers_see_consistent_values()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var buffer = new byte[64];
            for (int i = 0; i < 2000; i++)
            {
                var key = Bytes.Of($"t{t}-{i % 50}");
                db.Put(cf, key, Bytes.Of($"t{t}-v{i}"));
                Assert.Equal(GetStatus.Found, db.Get(cf, key, buffer, out int length));
                Assert.StartsWith($"t{t}-v", Bytes.Text(buffer.AsSpan(0, length)));
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        using var it = db.NewIterator(cf);
        int keys = 0;
        for (it.SeekToFirst(); it.Valid; it.Next()) keys++;
        Assert.Equal(200, keys);
    }
}
