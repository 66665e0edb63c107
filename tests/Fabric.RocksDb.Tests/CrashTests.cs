// Durability across a process crash: a child process writes through DurableWriter and prints
// "acked <writer> <sequence>" after each write completes; it is SIGKILLed right after the N-th
// ack, and the reopened database must hold every acked write, whole batches only, and for each
// writer a gap-free prefix of its sequence (completion order = durability order). A control run
// shows the harness can see loss: with ManualWalFlush and no FlushWal, killed writes are gone.
// (SIGKILL loses what sits in RocksDB's user-space WAL buffer, not the OS page cache: power loss
// cannot be simulated here; the fsync half is FlushWal(sync: true) by construction.)
using System.Buffers.Binary;
using Fabric.RocksDb.Tests.ChildProcess;
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class CrashTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(1, 300)]
    [InlineData(8, 600)]
    public async Task Every_acked_write_survives_kill_9_and_the_state_is_a_prefix_per_writer(int writers, int killAfterAcks)
    {
        string path = _dir.Sub("db");
        var lastAcked = new long[writers];
        Array.Fill(lastAcked, -1);
        using (var child = new ChildProcessRunner("crash-writer", path, writers.ToString()))
        {
            int acks = 0;
            while (acks < killAfterAcks)
            {
                string? line = await child.ReadLineAsync(TimeSpan.FromSeconds(60));
                if (line is null) Assert.Fail($"child exited early: {await child.StandardError}");
                var parts = line!.Split(' ');
                Assert.Equal("acked", parts[0]);
                int writer = int.Parse(parts[1]);
                long sequence = long.Parse(parts[2]);
                // Each writer awaits its writes one by one, so its acks come in order.
                Assert.Equal(lastAcked[writer] + 1, sequence);
                lastAcked[writer] = sequence;
                acks++;
            }
            child.KillHard();
            Assert.NotEqual(0, child.Process.ExitCode);
        }

        using var db = RocksDatabase.Open(path, CrashWorkload.Options);
        var data = db.GetColumnFamily(CrashWorkload.DataFamily);
        var meta = db.GetColumnFamily(CrashWorkload.MetaFamily);
        for (int w = 0; w < writers; w++)
        {
            // The writer's keys in order: must be exactly 0, 1, 2, ... with no gap.
            long expected = 0;
            using (var it = db.NewPrefixIterator(data, CrashWorkload.WriterPrefix(w)))
            {
                for (it.SeekToFirst(); it.Valid; it.Next())
                {
                    Assert.True(it.Key.SequenceEqual(CrashWorkload.DataKey(w, expected)),
                        $"writer {w}: expected sequence {expected} next, found key {Convert.ToHexString(it.Key)} (a hole in the durable prefix)");
                    Assert.True(it.Value.SequenceEqual(CrashWorkload.ExpectedValue(w, expected)), $"writer {w} sequence {expected}: wrong value");
                    expected++;
                }
            }
            long durable = expected - 1;
            Assert.True(durable >= lastAcked[w], $"writer {w}: acked up to {lastAcked[w]} but only {durable} survived");

            // meta was written in the same batch as each data key: it must name the last one.
            var metaValue = db.Get(meta, CrashWorkload.MetaKey(w));
            if (durable < 0)
            {
                Assert.Null(metaValue);
            }
            else
            {
                Assert.NotNull(metaValue);
                Assert.Equal(durable, BinaryPrimitives.ReadInt64BigEndian(metaValue));
            }
        }
    }

    [Fact]
    public async Task Control_unflushed_manual_wal_writes_are_lost_on_kill_9()
    {
        string path = _dir.Sub("db");
        const int count = 50;
        using (var child = new ChildProcessRunner("unsynced-writer", path, count.ToString()))
        {
            Assert.Equal($"written {count}", await child.ReadLineAsync(TimeSpan.FromSeconds(60)));
            child.KillHard();
        }
        using var db = RocksDatabase.Open(path, CrashWorkload.Options);
        var data = db.GetColumnFamily(CrashWorkload.DataFamily);
        int survived = 0;
        for (int i = 0; i < count; i++)
        {
            if (db.Get(data, CrashWorkload.DataKey(0, i)) is not null) survived++;
        }
        // 50 x 4 KiB stays inside RocksDB's WAL buffer: the crash must have lost writes, or the
        // crash test above could not tell a durable writer from a non-durable one.
        Assert.True(survived < count, $"all {count} unflushed writes survived a SIGKILL");
    }
}
