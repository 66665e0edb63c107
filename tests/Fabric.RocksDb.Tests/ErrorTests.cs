// RocksDB's own error text reaches the caller (with the DB path) as RocksDbException, and bad
// arguments are refused before they reach native code.
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class ErrorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Opening_a_database_twice_in_one_process_reports_the_lock()
    {
        string path = _dir.Sub("db");
        using var first = RocksDatabase.Open(path);
        var error = Assert.Throws<RocksDbException>(() => RocksDatabase.Open(path));
        Assert.Equal(RocksDbErrorKind.IOError, error.Kind);
        Assert.StartsWith("IO error: lock hold by current process", error.RocksDbMessage);
        Assert.Contains(Path.Combine(path, "LOCK"), error.RocksDbMessage);
        Assert.Equal(path, error.DatabasePath);
        Assert.Contains(path, error.Message);
        // The first handle is unaffected.
        first.Put(Bytes.Of("k"), Bytes.Of("v"));
    }

    [Fact]
    public async Task Opening_a_database_locked_by_another_process_says_resource_temporarily_unavailable()
    {
        string path = _dir.Sub("db");
        using var child = new ChildProcessRunner("hold-open", path);
        Assert.Equal("open", await child.ReadLineAsync(TimeSpan.FromSeconds(60)));

        var error = Assert.Throws<RocksDbException>(() => RocksDatabase.Open(path));
        Assert.Equal(RocksDbErrorKind.IOError, error.Kind);
        Assert.StartsWith("IO error: While lock file: ", error.RocksDbMessage);
        Assert.EndsWith("LOCK: Resource temporarily unavailable", error.RocksDbMessage);

        child.Process.StandardInput.Close();
        Assert.True(child.Process.WaitForExit(30_000));
        Assert.Equal(0, child.Process.ExitCode);
        using var reopened = RocksDatabase.Open(path);
    }

    [Fact]
    public void Opening_a_missing_database_without_create_if_missing_reports_it()
    {
        string path = _dir.Sub("missing");
        var error = Assert.Throws<RocksDbException>(() => RocksDatabase.Open(path, new RocksDbOptions { CreateIfMissing = false }));
        Assert.Equal(RocksDbErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("does not exist (create_if_missing is false)", error.RocksDbMessage);
        Assert.Contains(path, error.RocksDbMessage);
    }

    [Fact]
    public void Opening_a_path_that_is_a_regular_file_reports_rocksdb_io_error()
    {
        string path = _dir.Sub("file");
        File.WriteAllText(path, "not a database");
        var error = Assert.Throws<RocksDbException>(() => RocksDatabase.Open(path));
        Assert.Equal(RocksDbErrorKind.IOError, error.Kind);
        Assert.Contains(path, error.RocksDbMessage);
    }

    [Fact]
    public void Listing_column_families_of_a_missing_database_reports_the_missing_current_file()
    {
        var error = Assert.Throws<RocksDbException>(() => RocksDatabase.ListColumnFamilies(_dir.Sub("none")));
        Assert.Equal(RocksDbErrorKind.IOError, error.Kind);
        Assert.Contains("CURRENT", error.RocksDbMessage);
    }

    [Fact]
    public void A_missing_column_family_is_refused_when_creation_is_off()
    {
        var error = Assert.Throws<RocksDbException>(() => RocksDatabase.Open(_dir.Sub("db"),
            new RocksDbOptions { CreateMissingColumnFamilies = false }, ["objects"]));
        Assert.Equal(RocksDbErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("objects", error.RocksDbMessage);
    }

    [Fact]
    public void A_reversed_delete_range_reports_rocksdb_invalid_argument()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var error = Assert.Throws<RocksDbException>(() => db.DeleteRange(db.DefaultColumnFamily, Bytes.Of("z"), Bytes.Of("a")));
        Assert.Equal(RocksDbErrorKind.InvalidArgument, error.Kind);
    }

    [Fact]
    public void A_batch_cannot_mix_databases_nor_be_written_to_another_database()
    {
        // RocksDB itself would apply the records before an unknown column family id and then fail
        // (a half-applied batch), so the binding refuses the mix before it reaches RocksDB.
        using var other = RocksDatabase.Open(_dir.Sub("other"), columnFamilies: ["a", "b", "c"]);
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        using var batch = new WriteBatch();
        batch.Put(db.DefaultColumnFamily, Bytes.Of("k"), Bytes.Of("v"));
        Assert.Same(db, batch.Database);
        Assert.Throws<ArgumentException>(() => batch.Put(other.GetColumnFamily("c"), Bytes.Of("k2"), Bytes.Of("v2")));
        Assert.Throws<ArgumentException>(() => batch.Delete(other.GetColumnFamily("c"), Bytes.Of("k2")));
        Assert.Equal(1, batch.Count);
        Assert.Throws<ArgumentException>(() => other.Write(batch));
        Assert.Null(other.Get(Bytes.Of("k")));

        // After Clear the batch may be filled for another database.
        batch.Clear();
        Assert.Null(batch.Database);
        batch.Put(other.GetColumnFamily("c"), Bytes.Of("k2"), Bytes.Of("v2"));
        other.Write(batch);
        Assert.Equal("v2", Bytes.Text(other.Get(other.GetColumnFamily("c"), Bytes.Of("k2"))));
    }

    [Fact]
    public void Invalid_options_are_refused_before_rocksdb()
    {
        Assert.Throws<ArgumentException>(() => RocksDatabase.Open(_dir.Sub("db"), new RocksDbOptions { WriteBufferSizeBytes = 0 }));
        Assert.Throws<ArgumentException>(() => RocksDatabase.Open(_dir.Sub("db"), new RocksDbOptions { Compression = (RocksDbCompression)99 }));
        Assert.Throws<ArgumentException>(() => RocksDatabase.Open(_dir.Sub("db"), new RocksDbOptions { UnorderedWrite = true, EnablePipelinedWrite = true }));
        Assert.Throws<ArgumentException>(() => RocksDatabase.Open(_dir.Sub("db"), null, ["bad\0name"]));
        Assert.Throws<ArgumentException>(() => RocksDatabase.Open(""));
    }

    [Fact]
    public void Column_families_and_snapshots_of_another_database_are_refused()
    {
        using var a = RocksDatabase.Open(_dir.Sub("a"));
        using var b = RocksDatabase.Open(_dir.Sub("b"));
        using var snapshot = b.GetSnapshot();
        Assert.Throws<ArgumentException>(() => a.Put(b.DefaultColumnFamily, Bytes.Of("k"), Bytes.Of("v")));
        Assert.Throws<ArgumentException>(() => a.Get(a.DefaultColumnFamily, Bytes.Of("k"), snapshot));
        Assert.Throws<ArgumentException>(() => a.NewIterator(a.DefaultColumnFamily, new IteratorOptions { Snapshot = snapshot }));
        Assert.Throws<KeyNotFoundException>(() => a.GetColumnFamily("nope"));
    }
}
