// DurableWriter in process: writes complete only after a WAL sync, many writers share syncs, the
// queue is bounded, errors fail the waiting writers, and Dispose drains.
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class DurableWriterTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private RocksDatabase OpenDb(string name = "db") =>
        RocksDatabase.Open(_dir.Sub(name), new RocksDbOptions { ManualWalFlush = true }, ["data"]);

    [Fact]
    public async Task A_completed_write_is_readable_and_counted()
    {
        using var db = OpenDb();
        using var writer = new DurableWriter(db);
        using var batch = new WriteBatch();
        batch.Put(db.GetColumnFamily("data"), Bytes.Of("k"), Bytes.Of("v"));
        await writer.WriteAsync(batch);
        Assert.Equal("v", Bytes.Text(db.Get(db.GetColumnFamily("data"), Bytes.Of("k"))));
        Assert.Equal(1, writer.CompletedWrites);
        Assert.Equal(1, writer.FlushCount);
        Assert.Equal(0, writer.FailedWrites);
    }

    [Fact]
    public async Task Many_concurrent_writers_all_complete_and_share_wal_syncs()
    {
        using var db = OpenDb();
        using var writer = new DurableWriter(db, maxPendingWrites: 8);
        var cf = db.GetColumnFamily("data");
        const int writers = 16;
        const int perWriter = 50;
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            using var batch = new WriteBatch();
            var value = new byte[4096];
            for (int i = 0; i < perWriter; i++)
            {
                batch.Clear();
                batch.Put(cf, Bytes.Of($"w{w:D2}-{i:D3}"), value);
                await writer.WriteAsync(batch);
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(writers * perWriter, writer.CompletedWrites);
        Assert.InRange(writer.FlushCount, 1, writers * perWriter);
        using var it = db.NewIterator(cf);
        int count = 0;
        for (it.SeekToFirst(); it.Valid; it.Next()) count++;
        Assert.Equal(writers * perWriter, count);
    }

    [Fact]
    public async Task Continuations_do_not_run_on_the_flusher_thread()
    {
        using var db = OpenDb();
        using var writer = new DurableWriter(db);
        using var batch = new WriteBatch();
        batch.Put(db.GetColumnFamily("data"), Bytes.Of("k"), Bytes.Of("v"));
        for (int i = 0; i < 20; i++)
        {
            await writer.WriteAsync(batch);
            Assert.DoesNotContain("durable-writer", Thread.CurrentThread.Name ?? "");
        }
    }

    [Fact]
    public async Task A_refused_write_fails_only_its_own_task()
    {
        using var other = RocksDatabase.Open(_dir.Sub("other"));
        using var db = OpenDb();
        using var writer = new DurableWriter(db);
        using var bad = new WriteBatch();
        bad.Put(other.DefaultColumnFamily, Bytes.Of("k"), Bytes.Of("v"));
        await Assert.ThrowsAsync<ArgumentException>(async () => await writer.WriteAsync(bad));
        Assert.Equal(1, writer.FailedWrites);

        using var good = new WriteBatch();
        good.Put(db.GetColumnFamily("data"), Bytes.Of("k"), Bytes.Of("v"));
        await writer.WriteAsync(good);
        Assert.Equal(1, writer.CompletedWrites);
    }

    [Fact]
    public async Task A_full_disk_fails_the_waiting_writers_with_rocksdbs_own_error_text()
    {
        // A real ENOSPC: the database lives on a 2 MiB tmpfs (needs root to mount).
        string mount = _dir.Sub("tmpfs");
        Directory.CreateDirectory(mount);
        if (!TmpfsMount.TryMount(mount, "2m", out string why))
        {
            if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail($"CI must be able to mount a tmpfs (root): {why}");
            return; // Outside CI without root: nothing to test here.
        }
        try
        {
            using var db = RocksDatabase.Open(Path.Combine(mount, "db"), new RocksDbOptions
            {
                ManualWalFlush = true,
                // The LOG must not live on the full filesystem (see RocksDbOptions.LogDirectory).
                LogDirectory = _dir.Sub("logs"),
            });
            using var writer = new DurableWriter(db, maxPendingWrites: 16);
            var cf = db.DefaultColumnFamily;
            Exception? failure = null;
            var value = new byte[4096];
            // 2 MiB fills within about 500 writes of 4 KiB; the bound only stops a broken test.
            for (int i = 0; i < 5000 && failure is null; i++)
            {
                using var batch = new WriteBatch();
                batch.Put(cf, Bytes.Of($"k{i:D5}"), value);
                try
                {
                    await writer.WriteAsync(batch);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            }
            var error = Assert.IsType<RocksDbException>(failure);
            Assert.Equal(RocksDbErrorKind.IOError, error.Kind);
            Assert.Contains("No space left on device", error.RocksDbMessage);
            Assert.True(writer.FailedWrites >= 1);

            // The database is fenced: later writes fail fast with the same text instead of
            // reaching the failed WAL writer (which aborts the process in this RocksDB build),
            // and reads still work.
            Assert.Same(db.WriteFailure, db.WriteFailure);
            Assert.NotNull(db.WriteFailure);
            using var after = new WriteBatch();
            after.Put(cf, Bytes.Of("after"), value);
            var fenced = await Assert.ThrowsAsync<RocksDbException>(async () => await writer.WriteAsync(after));
            Assert.Contains("No space left on device", fenced.RocksDbMessage);
            Assert.Contains("reopen", fenced.Message);
            Assert.Throws<RocksDbException>(() => db.FlushWal(sync: true));
            Assert.Throws<RocksDbException>(() => db.Flush());
            Assert.NotNull(db.Get(cf, Bytes.Of("k00000")));
        }
        finally
        {
            TmpfsMount.Unmount(mount);
        }
    }

    [Fact]
    public async Task Writes_pending_when_the_database_goes_away_fail_instead_of_hanging()
    {
        var db = OpenDb();
        var writer = new DurableWriter(db, maxPendingWrites: 4);
        var cf = db.GetColumnFamily("data");
        var tasks = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            using var batch = new WriteBatch();
            batch.Put(cf, Bytes.Of($"w{w}"), new byte[4096]);
            int completed = 0;
            try
            {
                while (true)
                {
                    await writer.WriteAsync(batch);
                    completed++;
                }
            }
            catch (ObjectDisposedException)
            {
                return completed;
            }
        })).ToArray();
        while (writer.CompletedWrites < 100) await Task.Delay(1);
        db.Dispose();
        var completedPerWriter = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(completedPerWriter.Sum() >= 100);
        writer.Dispose();
    }

    [Fact]
    public async Task Dispose_drains_pending_writes_and_later_writes_are_refused()
    {
        string path = _dir.Sub("db");
        const int count = 200;
        using (var db = OpenDb())
        {
            var writer = new DurableWriter(db, maxPendingWrites: 1000);
            var cf = db.GetColumnFamily("data");
            var pending = new List<Task>();
            for (int i = 0; i < count; i++)
            {
                using var batch = new WriteBatch();
                batch.Put(cf, Bytes.Of($"k{i:D4}"), Bytes.Of($"v{i}"));
                pending.Add(writer.WriteAsync(batch).AsTask());
            }
            writer.Dispose();
            await Task.WhenAll(pending).WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Equal(count, writer.CompletedWrites);

            using var late = new WriteBatch();
            late.Put(cf, Bytes.Of("late"), Bytes.Of("x"));
            await Assert.ThrowsAsync<ObjectDisposedException>(async () => await writer.WriteAsync(late));
        }
        using (var db = RocksDatabase.Open(path))
        {
            Assert.Equal("v199", Bytes.Text(db.Get(db.GetColumnFamily("data"), Bytes.Of("k0199"))));
            Assert.Null(db.Get(db.GetColumnFamily("data"), Bytes.Of("late")));
        }
    }

    [Fact]
    public async Task A_full_queue_makes_writers_wait_and_cancellation_stops_the_wait()
    {
        using var db = OpenDb();
        using var writer = new DurableWriter(db, maxPendingWrites: 1);
        using var batch = new WriteBatch();
        batch.Put(db.GetColumnFamily("data"), Bytes.Of("k"), Bytes.Of("v"));
        // With one slot every write still completes, one at a time.
        var tasks = Enumerable.Range(0, 20).Select(_ => writer.WriteAsync(batch).AsTask()).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(20, writer.CompletedWrites);

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var blocker = writer.WriteAsync(batch).AsTask();
        var waiting = writer.WriteAsync(batch, cancelled.Token).AsTask();
        // Either the slot was free again already (the first write finished), or the wait was cancelled.
        try
        {
            await waiting.WaitAsync(TimeSpan.FromMinutes(1));
        }
        catch (OperationCanceledException)
        {
        }
        await blocker.WaitAsync(TimeSpan.FromMinutes(1));
    }
}
