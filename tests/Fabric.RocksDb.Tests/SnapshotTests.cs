// Snapshots isolate reads and iterators from later writes, and disposing releases them.
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class SnapshotTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Reads_through_a_snapshot_do_not_see_later_puts_deletes_or_range_deletes()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        db.Put(cf, Bytes.Of("a"), Bytes.Of("1"));
        db.Put(cf, Bytes.Of("b"), Bytes.Of("1"));
        db.Put(cf, Bytes.Of("c"), Bytes.Of("1"));

        using var snapshot = db.GetSnapshot();
        db.Put(cf, Bytes.Of("a"), Bytes.Of("2"));
        db.Delete(cf, Bytes.Of("b"));
        db.DeleteRange(cf, Bytes.Of("c"), Bytes.Of("d"));
        db.Put(cf, Bytes.Of("new"), Bytes.Of("2"));
        db.Flush();

        Assert.Equal("1", Bytes.Text(db.Get(cf, Bytes.Of("a"), snapshot)));
        Assert.Equal("1", Bytes.Text(db.Get(cf, Bytes.Of("b"), snapshot)));
        Assert.Equal("1", Bytes.Text(db.Get(cf, Bytes.Of("c"), snapshot)));
        Assert.Null(db.Get(cf, Bytes.Of("new"), snapshot));
        var buffer = new byte[8];
        Assert.Equal(GetStatus.Found, db.Get(cf, Bytes.Of("b"), buffer, out _, snapshot));
        Assert.True(db.TryGet(cf, Bytes.Of("c"), 0, (v, _) => Bytes.Text(v), out string? c, snapshot));
        Assert.Equal("1", c);
        Assert.Equal(["1", "1", null], db.MultiGet(cf, [Bytes.Of("a"), Bytes.Of("b"), Bytes.Of("new")], snapshot).Select(Bytes.Text));

        using var it = db.NewIterator(cf, new IteratorOptions { Snapshot = snapshot });
        var seen = new List<string>();
        for (it.SeekToFirst(); it.Valid; it.Next()) seen.Add($"{Bytes.Text(it.Key)}={Bytes.Text(it.Value)}");
        Assert.Equal(["a=1", "b=1", "c=1"], seen);

        // The latest state is unaffected.
        Assert.Equal("2", Bytes.Text(db.Get(cf, Bytes.Of("a"))));
        Assert.Null(db.Get(cf, Bytes.Of("b")));
    }

    [Fact]
    public void Disposing_a_snapshot_releases_it_and_makes_it_unusable()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var first = db.GetSnapshot();
        var second = db.GetSnapshot();
        Assert.Equal(2UL, db.GetIntProperty(RocksDbProperty.NumSnapshots));
        first.Dispose();
        first.Dispose();
        Assert.Equal(1UL, db.GetIntProperty(RocksDbProperty.NumSnapshots));
        Assert.True(first.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => db.Get(db.DefaultColumnFamily, Bytes.Of("k"), first));
        Assert.Throws<ObjectDisposedException>(() => db.NewIterator(db.DefaultColumnFamily, new IteratorOptions { Snapshot = first }));
        second.Dispose();
        Assert.Equal(0UL, db.GetIntProperty(RocksDbProperty.NumSnapshots));
    }

    [Fact]
    public void An_iterator_keeps_its_snapshot_alive_after_the_snapshot_object_is_disposed()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        db.Put(cf, Bytes.Of("k"), Bytes.Of("old"));
        var snapshot = db.GetSnapshot();
        using var it = db.NewIterator(cf, new IteratorOptions { Snapshot = snapshot });
        snapshot.Dispose();
        db.Put(cf, Bytes.Of("k"), Bytes.Of("new"));
        db.Flush();
        db.CompactRange();
        it.SeekToFirst();
        Assert.Equal("old", Bytes.Text(it.Value));
    }
}
