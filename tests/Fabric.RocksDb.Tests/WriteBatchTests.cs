// Write batches: atomic across column families, reusable, and the scatter-gather put.
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class WriteBatchTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_batch_applies_puts_deletes_and_range_deletes_across_column_families()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"), columnFamilies: ["data", "meta"]);
        var data = db.GetColumnFamily("data");
        var meta = db.GetColumnFamily("meta");
        foreach (var k in new[] { "r1", "r2", "r3", "x" }) db.Put(data, Bytes.Of(k), Bytes.Of("old"));

        using var batch = new WriteBatch();
        batch.Put(data, Bytes.Of("new"), Bytes.Of("n"));
        batch.Delete(data, Bytes.Of("x"));
        batch.DeleteRange(data, Bytes.Of("r1"), Bytes.Of("r3"));
        batch.Put(meta, Bytes.Of("version"), Bytes.Of("7"));
        Assert.Equal(4, batch.Count);
        // Nothing is visible before Write.
        Assert.Null(db.Get(meta, Bytes.Of("version")));

        db.Write(batch, sync: true);
        Assert.Equal("n", Bytes.Text(db.Get(data, Bytes.Of("new"))));
        Assert.Null(db.Get(data, Bytes.Of("x")));
        Assert.Null(db.Get(data, Bytes.Of("r1")));
        Assert.Null(db.Get(data, Bytes.Of("r2")));
        Assert.Equal("old", Bytes.Text(db.Get(data, Bytes.Of("r3"))));
        Assert.Equal("7", Bytes.Text(db.Get(meta, Bytes.Of("version"))));
    }

    [Fact]
    public void Clear_empties_the_batch_for_reuse_and_inputs_may_be_reused_at_once()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        using var batch = new WriteBatch();
        var key = new byte[1];
        var value = new byte[1];
        for (int round = 0; round < 3; round++)
        {
            batch.Clear();
            Assert.Equal(0, batch.Count);
            for (byte i = 0; i < 10; i++)
            {
                key[0] = i;
                value[0] = (byte)(i + round);
                batch.Put(cf, key, value);
                // RocksDB copied the bytes: changing the arrays now must not change the batch.
                key[0] = 0xEE;
                value[0] = 0xEE;
            }
            Assert.Equal(10, batch.Count);
            db.Write(batch);
        }
        for (byte i = 0; i < 10; i++) Assert.Equal(new[] { (byte)(i + 2) }, db.Get([i]));
        Assert.Null(db.Get([0xEE]));
    }

    [Fact]
    public void The_two_part_put_stores_the_concatenation()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var cf = db.DefaultColumnFamily;
        var header = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        var body = new byte[4096];
        new Random(3).NextBytes(body);
        using var batch = new WriteBatch();
        batch.Put(cf, Bytes.Of("block"), header, body);
        batch.Put(cf, Bytes.Of("empty-parts"), [], []);
        db.Write(batch);
        Assert.Equal<byte[]?>([.. header, .. body], db.Get(Bytes.Of("block")));
        Assert.Equal<byte[]?>([], db.Get(Bytes.Of("empty-parts")));
    }

    [Fact]
    public void A_disposed_batch_throws_instead_of_touching_freed_memory()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"));
        var batch = new WriteBatch();
        batch.Dispose();
        batch.Dispose();
        Assert.Throws<ObjectDisposedException>(() => batch.Put(db.DefaultColumnFamily, Bytes.Of("k"), Bytes.Of("v")));
        Assert.Throws<ObjectDisposedException>(() => db.Write(batch));
        Assert.Throws<ObjectDisposedException>(() => batch.Count);
    }

    [Fact]
    public void A_batch_s_serialized_form_rebuilds_it_and_a_write_without_the_wal_is_read_at_once_and_flushed_later()
    {
        using var db = RocksDatabase.Open(_dir.Sub("db"), columnFamilies: ["meta"]);
        var meta = db.GetColumnFamily("meta");
        byte[] data;
        using (var batch = new WriteBatch())
        {
            batch.Put(db.DefaultColumnFamily, Bytes.Of("a"), Bytes.Of("1"));
            batch.Put(meta, Bytes.Of("b"), Bytes.Of("2"));
            batch.Delete(db.DefaultColumnFamily, Bytes.Of("gone"));
            data = batch.Data.ToArray();
        }
        db.Put(Bytes.Of("gone"), Bytes.Of("x"));
        using (var rebuilt = WriteBatch.FromData(db, data))
        {
            Assert.Equal(3, rebuilt.Count);
            Assert.Same(db, rebuilt.Database);
            db.WriteWithoutWal(rebuilt);
        }
        Assert.Equal("1", Bytes.Text(db.Get(Bytes.Of("a"))));
        Assert.Equal("2", Bytes.Text(db.Get(meta, Bytes.Of("b"))));
        Assert.Null(db.Get(Bytes.Of("gone")));
        Assert.Throws<ArgumentException>(() => WriteBatch.FromData(db, new byte[5]));

        // StartFlush switches the memtable now and flushes it in the background.
        db.StartFlush();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (db.ImmutableMemtables != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the flush never finished");
            Thread.Sleep(5);
        }
        Assert.Equal("1", db.GetProperty("rocksdb.num-files-at-level0"));
        Assert.Equal("1", Bytes.Text(db.Get(Bytes.Of("a"))));
    }
}
