// Disposal in any order never crashes the process: children are released before the DB closes,
// and anything used after its disposal throws ObjectDisposedException.
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class DisposeSafetyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Every_call_on_a_disposed_database_throws_ObjectDisposedException()
    {
        var db = RocksDatabase.Open(_dir.Sub("db"), columnFamilies: ["cf"]);
        var cf = db.GetColumnFamily("cf");
        var defaultCf = db.DefaultColumnFamily;
        using var batch = new WriteBatch();
        batch.Put(cf, Bytes.Of("k"), Bytes.Of("v"));
        db.Dispose();
        db.Dispose();

        Assert.True(db.IsDisposed);
        Assert.True(cf.IsClosed);
        var buffer = new byte[8];
        Assert.Throws<ObjectDisposedException>(() => db.Put(Bytes.Of("k"), Bytes.Of("v")));
        Assert.Throws<ObjectDisposedException>(() => db.Put(cf, Bytes.Of("k"), Bytes.Of("v")));
        Assert.Throws<ObjectDisposedException>(() => db.Get(defaultCf, Bytes.Of("k")));
        Assert.Throws<ObjectDisposedException>(() => db.Get(cf, Bytes.Of("k"), buffer, out _));
        Assert.Throws<ObjectDisposedException>(() => db.TryGet(cf, Bytes.Of("k"), 0, (v, _) => 0, out _));
        Assert.Throws<ObjectDisposedException>(() => db.MultiGet(cf, [Bytes.Of("k")]));
        Assert.Throws<ObjectDisposedException>(() => db.Delete(cf, Bytes.Of("k")));
        Assert.Throws<ObjectDisposedException>(() => db.DeleteRange(cf, Bytes.Of("a"), Bytes.Of("b")));
        Assert.Throws<ObjectDisposedException>(() => db.Write(batch));
        Assert.Throws<ObjectDisposedException>(() => db.FlushWal(true));
        Assert.Throws<ObjectDisposedException>(() => db.Flush());
        Assert.Throws<ObjectDisposedException>(() => db.CompactRange());
        Assert.Throws<ObjectDisposedException>(() => db.GetProperty(RocksDbProperty.Stats));
        Assert.Throws<ObjectDisposedException>(() => db.NewIterator(cf));
        Assert.Throws<ObjectDisposedException>(() => db.GetSnapshot());
        Assert.Throws<ObjectDisposedException>(() => db.CreateColumnFamily("x"));
        Assert.Throws<ObjectDisposedException>(() => db.GetColumnFamily("cf"));
        Assert.Throws<ObjectDisposedException>(() => db.CreateCheckpoint(_dir.Sub("cp")));
        // The batch itself is still usable: it does not depend on the database.
        Assert.Equal(1, batch.Count);
    }

    [Fact]
    public void Disposing_the_database_first_disposes_its_open_iterators_and_snapshots()
    {
        string path = _dir.Sub("db");
        var db = RocksDatabase.Open(path);
        db.Put(Bytes.Of("k"), Bytes.Of("v"));
        var snapshot = db.GetSnapshot();
        var iterator = db.NewIterator(db.DefaultColumnFamily, new IteratorOptions { Snapshot = snapshot, LowerBound = Bytes.Of("a") });
        iterator.SeekToFirst();
        Assert.True(iterator.Valid);

        db.Dispose();

        Assert.True(snapshot.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => iterator.Valid);
        Assert.Throws<ObjectDisposedException>(() => iterator.Key.Length);
        Assert.Throws<ObjectDisposedException>(() => iterator.SeekToFirst());
        Assert.Throws<ObjectDisposedException>(() => iterator.Next());
        // Disposing the children after the database is harmless.
        iterator.Dispose();
        snapshot.Dispose();
        // The database really closed: its lock is free again.
        using var reopened = RocksDatabase.Open(path);
        Assert.Equal("v", Bytes.Text(reopened.Get(Bytes.Of("k"))));
    }

    [Fact]
    public void Children_disposed_before_the_database_are_forgotten_by_it()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        for (int i = 0; i < 100; i++)
        {
            using var snapshot = db.GetSnapshot();
            using var it = db.NewIterator(db.DefaultColumnFamily, new IteratorOptions { Snapshot = snapshot });
            it.SeekToFirst();
        }
        Assert.Equal(0UL, db.GetIntProperty(RocksDbProperty.NumSnapshots));
    }

    [Fact]
    public void Dispose_racing_with_readers_and_writers_never_crashes()
    {
        for (int round = 0; round < 5; round++)
        {
            string path = _dir.Sub($"db{round}");
            var db = RocksDatabase.Open(path);
            var cf = db.DefaultColumnFamily;
            for (int i = 0; i < 100; i++) db.Put(cf, Bytes.Of($"k{i}"), new byte[512]);
            using var started = new CountdownEvent(4);
            var failures = new List<Exception>();
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                var buffer = new byte[1024];
                started.Signal();
                try
                {
                    for (int i = 0; ; i++)
                    {
                        switch ((t + i) % 4)
                        {
                            case 0: db.Get(cf, Bytes.Of($"k{i % 100}"), buffer, out _); break;
                            case 1: db.Put(cf, Bytes.Of($"k{i % 100}"), buffer.AsSpan(0, 512)); break;
                            case 2: db.TryGet(cf, Bytes.Of($"k{i % 100}"), 0, (v, _) => v[0], out _); break;
                            default:
                                using (var it = db.NewIterator(cf))
                                {
                                    for (it.SeekToFirst(); it.Valid; it.Next()) _ = it.Value.Length;
                                }
                                break;
                        }
                    }
                }
                catch (ObjectDisposedException)
                {
                    // The expected way out once Dispose ran.
                }
                catch (Exception e)
                {
                    lock (failures) failures.Add(e);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            Assert.True(started.Wait(TimeSpan.FromSeconds(30)));
            db.Dispose();
            foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(60)));
            Assert.Empty(failures);
            using var reopened = RocksDatabase.Open(path);
        }
    }
}
