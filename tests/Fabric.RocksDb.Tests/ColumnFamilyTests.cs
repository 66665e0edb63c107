// Column families: created at open or later, listed and reopened automatically, dropped.
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class ColumnFamilyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Column_families_keep_separate_key_spaces()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"), columnFamilies: ["objects", "pglog"]);
        db.Put(db.GetColumnFamily("objects"), Bytes.Of("k"), Bytes.Of("object"));
        db.Put(db.GetColumnFamily("pglog"), Bytes.Of("k"), Bytes.Of("log"));
        Assert.Null(db.Get(Bytes.Of("k")));
        Assert.Equal("object", Bytes.Text(db.Get(db.GetColumnFamily("objects"), Bytes.Of("k"))));
        Assert.Equal("log", Bytes.Text(db.Get(db.GetColumnFamily("pglog"), Bytes.Of("k"))));
    }

    [Fact]
    public void Column_families_persist_and_are_all_reopened_even_when_not_named()
    {
        string path = _dir.Sub("db");
        using (var db = RocksDatabase.Open(path, columnFamilies: ["objects"]))
        {
            db.Put(db.GetColumnFamily("objects"), Bytes.Of("o"), Bytes.Of("1"));
            var created = db.CreateColumnFamily("created-later");
            db.Put(created, Bytes.Of("c"), Bytes.Of("2"));
        }
        Assert.Equal(["default", "objects", "created-later"], RocksDatabase.ListColumnFamilies(path));
        using (var db = RocksDatabase.Open(path))
        {
            Assert.Equal(["default", "objects", "created-later"], db.ColumnFamilyNames);
            Assert.Equal("1", Bytes.Text(db.Get(db.GetColumnFamily("objects"), Bytes.Of("o"))));
            Assert.Equal("2", Bytes.Text(db.Get(db.GetColumnFamily("created-later"), Bytes.Of("c"))));
        }
        using (var db = RocksDatabase.Open(path, columnFamilies: ["objects", "new-at-open"]))
        {
            Assert.Equal(["default", "objects", "created-later", "new-at-open"], db.ColumnFamilyNames);
        }
    }

    [Fact]
    public void Dropped_column_families_disappear_and_their_objects_stop_working()
    {
        string path = _dir.Sub("db");
        using (var db = RocksDatabase.Open(path, columnFamilies: ["temp", "keep"]))
        {
            var temp = db.GetColumnFamily("temp");
            db.Put(temp, Bytes.Of("k"), Bytes.Of("v"));
            db.DropColumnFamily("temp");
            Assert.True(temp.IsClosed);
            Assert.Throws<ObjectDisposedException>(() => db.Put(temp, Bytes.Of("k"), Bytes.Of("v")));
            Assert.Throws<ObjectDisposedException>(() => db.Get(temp, Bytes.Of("k")));
            Assert.False(db.TryGetColumnFamily("temp", out _));
            Assert.Throws<ArgumentException>(() => db.DropColumnFamily("default"));
            Assert.Throws<KeyNotFoundException>(() => db.DropColumnFamily("temp"));
        }
        using (var db = RocksDatabase.Open(path))
        {
            Assert.Equal(["default", "keep"], db.ColumnFamilyNames);
        }
    }

    [Fact]
    public void Creating_an_existing_column_family_is_refused()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"), columnFamilies: ["a"]);
        Assert.Throws<ArgumentException>(() => db.CreateColumnFamily("a"));
        Assert.Throws<ArgumentException>(() => db.CreateColumnFamily("default"));
    }

    [Fact]
    public void Flush_of_one_column_family_leaves_the_others_in_memtables()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"), columnFamilies: ["a", "b"]);
        var a = db.GetColumnFamily("a");
        var b = db.GetColumnFamily("b");
        db.Put(a, Bytes.Of("k"), new byte[1000]);
        db.Put(b, Bytes.Of("k"), new byte[1000]);
        db.Flush(a);
        Assert.True(db.GetIntProperty(RocksDbProperty.TotalSstFilesSize, a) > 0);
        Assert.Equal(0UL, db.GetIntProperty(RocksDbProperty.TotalSstFilesSize, b));
    }
}
