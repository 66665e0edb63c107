using System.Buffers.Binary;
using Fabric.Storage.Store;

namespace Fabric.Storage.Tests;

/// <summary>
/// The store's journal (StoreJournal) on its own: records, laps around the file, the live region, torn and stale
/// records; and RocksDbObjectStore on it: images of the files as a killed process leaves them (memtable gone)
/// reopen with every synced batch, across cuts, laps and full-journal flushes.
/// </summary>
public class StoreJournalTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fabric-journal-" + Guid.NewGuid().ToString("N"));

    public StoreJournalTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string JournalPath => Path.Combine(_dir, "journal");

    private static byte[] Batch(int id, int length)
    {
        var data = new byte[length];
        new Random(id).NextBytes(data);
        BinaryPrimitives.WriteInt32LittleEndian(data, id);
        return data;
    }

    private static List<int> ReplayIds(StoreJournal journal, long position, ulong sequence)
    {
        var ids = new List<int>();
        journal.Replay(position, sequence, data =>
        {
            int id = BinaryPrimitives.ReadInt32LittleEndian(data);
            Assert.Equal(Batch(id, data.Length), data.ToArray());
            ids.Add(id);
        });
        return ids;
    }

    [Fact]
    public void Records_replay_in_order_with_every_batch_after_a_reopen()
    {
        using (var journal = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize))
        {
            Assert.Equal(StoreJournal.MinimumSize, new FileInfo(JournalPath).Length); // written in full when created
            for (int record = 0; record < 10; record++)
            {
                for (int b = 0; b < 3; b++)
                {
                    journal.Add(Batch(record * 3 + b, 100 + record * 700 + b));
                }
                Assert.True(journal.TryWritePending());
            }
            journal.Sync();
            Assert.Equal(10UL, journal.NextSequence);
            Assert.Equal(0, journal.Head % StoreJournal.RecordAlignment);
        }
        using var reopened = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize);
        Assert.Equal(Enumerable.Range(0, 30), ReplayIds(reopened, 0, 0));
        Assert.Equal(10UL, reopened.NextSequence);
        // From the middle (a later cut): only what follows.
        long third = 0;
        reopened.Replay(0, 0, _ => { });
        using (var again = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize))
        {
            var positions = new List<long>();
            again.Replay(0, 0, _ => positions.Add(again.Head));
            third = positions[9]; // head before record 3 was read (its three batches saw the same head)
        }
        using var fromThird = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize);
        Assert.Equal(Enumerable.Range(9, 21), ReplayIds(fromThird, third, 3));
        // A wrong sequence number at the start finds nothing (a record of another lap).
        using var wrong = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize);
        Assert.Empty(ReplayIds(wrong, 0, 5));
    }

    [Fact]
    public void The_journal_laps_its_file_never_overwrites_the_live_region_and_replays_from_the_tail()
    {
        using var journal = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize);
        var random = new Random(3);
        var live = new List<(long Position, ulong Sequence, int Id)>();
        int id = 0;
        int refused = 0;
        while (journal.Head < 5 * journal.Size)
        {
            long before = journal.Head;
            ulong sequence = journal.NextSequence;
            int length = random.Next(10, 60_000);
            journal.Add(Batch(id, length));
            if (!journal.TryWritePending())
            {
                refused++;
                Assert.True(journal.UsedBytes + journal.PendingBytes > journal.Size - StoreJournal.RecordAlignment - 60_000 || journal.PendingBytes > journal.Size - journal.UsedBytes);
                // Make room as a cut would: everything but the last few records is flushed.
                var keep = live.Skip(Math.Max(0, live.Count - 3)).ToList();
                journal.MoveTail(keep.Count > 0 ? keep[0].Position : journal.Head);
                live = keep;
                Assert.True(journal.TryWritePending());
            }
            Assert.True(journal.UsedBytes <= journal.Size);
            long at = journal.Head - StoreJournalTests.Padded(StoreJournal.HeaderSize + 4 + length);
            live.Add((at, sequence, id));
            Assert.True(at >= before);
            id++;
        }
        Assert.True(refused > 0);
        journal.Sync();
        using var reopened = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize);
        Assert.Equal(live.Select(l => l.Id), ReplayIds(reopened, journal.Tail, live[0].Sequence));
        Assert.Equal(journal.Head, reopened.Head);
    }

    private static long Padded(long length) => (length + StoreJournal.RecordAlignment - 1) / StoreJournal.RecordAlignment * StoreJournal.RecordAlignment;

    [Fact]
    public void A_torn_or_damaged_record_ends_the_replay_and_nothing_after_it_is_applied()
    {
        var heads = new List<long>();
        using (var journal = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize))
        {
            for (int i = 0; i < 6; i++)
            {
                heads.Add(journal.Head);
                journal.Add(Batch(i, 5000));
                Assert.True(journal.TryWritePending());
            }
            journal.Sync();
        }
        // One flipped bit in the payload of record 3 (a torn write): records 0-2 only, though 4 and 5 are intact.
        using (var file = File.OpenHandle(JournalPath, FileMode.Open, FileAccess.ReadWrite))
        {
            var b = new byte[1];
            RandomAccess.Read(file, b, heads[3] + 2000);
            b[0] ^= 0x10;
            RandomAccess.Write(file, b, heads[3] + 2000);
        }
        using (var reopened = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize))
        {
            Assert.Equal([0, 1, 2], ReplayIds(reopened, 0, 0));
            Assert.Equal(heads[3], reopened.Head);
            Assert.Equal(3UL, reopened.NextSequence);
            // The next record overwrites the damaged one and the journal goes on from there.
            reopened.MoveTail(reopened.Head);
            reopened.Add(Batch(100, 10));
            Assert.True(reopened.TryWritePending());
            reopened.Sync();
        }
        using var third = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize);
        Assert.Equal([100], ReplayIds(third, heads[3], 3));
    }

    [Theory]
    [InlineData(140_000)] // grows the record buffer to exactly its length, short of the padded record
    [InlineData(65_500)]
    [InlineData(1)]
    public void A_record_of_any_length_is_written_padded_and_replays(int length)
    {
        using (var journal = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize))
        {
            journal.Add(Batch(1, Math.Max(length, 4)));
            Assert.True(journal.TryWritePending());
            Assert.Equal(0, journal.Head % StoreJournal.RecordAlignment);
            journal.Sync();
        }
        using var reopened = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize);
        Assert.Equal([1], ReplayIds(reopened, 0, 0));
    }

    [Fact]
    public void A_record_larger_than_the_journal_is_refused_and_a_bad_file_is_an_error()
    {
        using (var journal = StoreJournal.Open(JournalPath, StoreJournal.MinimumSize))
        {
            journal.Add(new byte[(int)StoreJournal.MinimumSize]);
            Assert.False(journal.TryWritePending());
            journal.DiscardPending();
            Assert.Equal(0, journal.PendingBatches);
        }
        File.WriteAllBytes(Path.Combine(_dir, "short"), new byte[4096]);
        var e = Assert.Throws<InvalidDataException>(() => StoreJournal.Open(Path.Combine(_dir, "short"), StoreJournal.MinimumSize));
        Assert.Contains("shorter than", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => StoreJournal.Open(Path.Combine(_dir, "tiny"), 64 * 1024));
    }

    // ---- the store on its journal -------------------------------------------------------------------------------

    /// <summary>Copies the store's files as a killed process leaves them: RocksDB's memtable is gone, SST files,
    /// journal and slot file are what was written.</summary>
    private static string CrashImage(RocksDbObjectStore store, string from, string to)
    {
        store.WaitForQuietFiles();
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            if (Path.GetFileName(file) != "LOCK")
            {
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
            }
        }
        return to;
    }

    private static byte[] Value(int key, int version, int length)
    {
        var value = new byte[length];
        new Random(key * 7919 + version).NextBytes(value);
        return value;
    }

    private static byte[] Key(int key) => [(byte)'D', .. BitConverter.GetBytes(key)];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_killed_store_reopens_with_every_synced_batch_across_cuts_laps_and_full_journal_flushes(bool writerSyncs)
    {
        string path = Path.Combine(_dir, "osd");
        var model = new Dictionary<int, (int Version, int Length)>();
        var images = new List<(string Path, Dictionary<int, (int, int)> Model)>();
        var random = new Random(11);
        long cuts, fullFlushes;
        using (var store = RocksDbObjectStore.Open(path, writerSyncs: writerSyncs, slotFile: false, journalBytes: StoreJournal.MinimumSize))
        {
            var pending = new Dictionary<int, (int, int)>();
            int durable = 0, written = 0;
            for (int i = 0; i < 1500; i++)
            {
                using var batch = store.CreateBatch();
                var changes = new Dictionary<int, (int, int)>();
                for (int k = 0; k < random.Next(1, 4); k++)
                {
                    int key = random.Next(300);
                    if (random.Next(10) == 0)
                    {
                        batch.Delete(Key(key));
                        changes[key] = (-1, 0);
                    }
                    else
                    {
                        // Mostly small values, now and then one that fills a good part of the journal.
                        int length = random.Next(20) == 0 ? random.Next(100_000, 400_000) : random.Next(10, 9000);
                        batch.Put(Key(key), Value(key, i, length));
                        changes[key] = (i, length);
                    }
                }
                written++;
                store.Write(batch, () =>
                {
                    lock (model)
                    {
                        durable++;
                    }
                });
                foreach (var (key, change) in changes)
                {
                    pending[key] = change;
                }
                if (random.Next(4) == 0 || i == 1499)
                {
                    if (writerSyncs)
                    {
                        store.SyncWritten();
                    }
                    var wait = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                    while (true)
                    {
                        lock (model)
                        {
                            if (durable == written)
                            {
                                break;
                            }
                        }
                        Assert.True(DateTime.UtcNow < wait, "batches did not become durable");
                        Thread.Sleep(1);
                    }
                    foreach (var (key, change) in pending)
                    {
                        model[key] = change;
                    }
                    pending.Clear();
                    if (random.Next(40) == 0)
                    {
                        images.Add((CrashImage(store, path, Path.Combine(_dir, $"image{images.Count}")), new Dictionary<int, (int, int)>(model)));
                    }
                }
            }
            images.Add((CrashImage(store, path, Path.Combine(_dir, "image-last")), new Dictionary<int, (int, int)>(model)));
            cuts = store.JournalCuts;
            fullFlushes = store.JournalFullFlushes;
        }
        Assert.True(cuts > 3, $"only {cuts} cuts: the journal never lapped");
        Assert.True(fullFlushes > 0, "no batch group was too large for the journal's free space");
        Assert.True(images.Count >= 3);
        foreach (var (image, expected) in images)
        {
            using var reopened = RocksDbObjectStore.Open(image, slotFile: false, journalBytes: StoreJournal.MinimumSize);
            foreach (var (key, (version, length)) in expected)
            {
                byte[]? value = reopened.Get(Key(key));
                if (version < 0)
                {
                    Assert.Null(value);
                }
                else
                {
                    Assert.True(value is not null, $"{image}: key {key} (version {version}) is missing");
                    Assert.Equal(Value(key, version, length), value);
                }
            }
        }
    }

    [Fact]
    public void A_journal_file_removed_from_a_store_that_used_it_is_an_error_naming_the_fix_and_turning_it_off_and_on_is_not()
    {
        string path = Path.Combine(_dir, "osd");
        using (var store = RocksDbObjectStore.Open(path, writerSyncs: true, slotFile: false, journalBytes: StoreJournal.MinimumSize))
        {
            using var batch = store.CreateBatch();
            batch.Put(Key(1), Value(1, 1, 100));
            store.Write(batch, null);
            store.SyncWritten();
        }
        File.Move(Path.Combine(path, "journal"), Path.Combine(_dir, "journal.saved"));
        var e = Assert.Throws<InvalidDataException>(() => RocksDbObjectStore.Open(path, slotFile: false, journalBytes: StoreJournal.MinimumSize));
        Assert.Contains("journal", e.Message);
        Assert.Contains("is missing", e.Message);
        Assert.Contains("rebuilt from its replicas", e.Message);
        Assert.Throws<InvalidDataException>(() => RocksDbObjectStore.Open(path, slotFile: false, journalBytes: 0));

        // Put back, it opens; turned off, the file goes and the store opens without it; turned on again, a new one.
        File.Move(Path.Combine(_dir, "journal.saved"), Path.Combine(path, "journal"));
        using (var store = RocksDbObjectStore.Open(path, slotFile: false, journalBytes: 0))
        {
            Assert.Equal(Value(1, 1, 100), store.Get(Key(1)));
        }
        Assert.False(File.Exists(Path.Combine(path, "journal")));
        using (var store = RocksDbObjectStore.Open(path, slotFile: false, journalBytes: 0))
        {
            Assert.Equal(Value(1, 1, 100), store.Get(Key(1)));
        }
        using (var store = RocksDbObjectStore.Open(path, slotFile: false, journalBytes: StoreJournal.MinimumSize))
        {
            Assert.True(File.Exists(Path.Combine(path, "journal")));
            Assert.Equal(Value(1, 1, 100), store.Get(Key(1)));
        }
    }

    [Fact]
    public void Turning_the_journal_off_replays_it_into_RocksDB_and_removes_it()
    {
        string path = Path.Combine(_dir, "osd");
        string image;
        using (var store = RocksDbObjectStore.Open(path, writerSyncs: true, slotFile: false, journalBytes: StoreJournal.MinimumSize))
        {
            for (int i = 0; i < 20; i++)
            {
                using var batch = store.CreateBatch();
                batch.Put(Key(i), Value(i, 1, 3000));
                store.Write(batch, null);
            }
            store.SyncWritten();
            image = CrashImage(store, path, Path.Combine(_dir, "image"));
        }
        using (var reopened = RocksDbObjectStore.Open(image, slotFile: false, journalBytes: 0))
        {
            Assert.False(File.Exists(Path.Combine(image, "journal")));
            Assert.Equal(0, reopened.JournalSize);
            for (int i = 0; i < 20; i++)
            {
                Assert.Equal(Value(i, 1, 3000), reopened.Get(Key(i)));
            }
        }
    }
}

/// <summary>The OSD options a node takes from its environment (journal size, recovery rate).</summary>
public class JournalOptionTests
{
    [Theory]
    [InlineData("64", 64L << 20)]
    [InlineData("1", 1L << 20)]
    [InlineData("0", 0L)]
    public void The_journal_size_comes_from_the_environment_in_MiB(string text, long bytes) =>
        Assert.Equal(bytes, Fabric.Storage.Osd.OsdOptions.FromEnvironment(name => name == "FABRIC_OSD_JOURNAL_MIB" ? text : null).JournalBytes);

    [Theory]
    [InlineData("-1")]
    [InlineData("64M")]
    public void A_bad_journal_size_is_an_error_naming_the_variable_and_the_fix(string text)
    {
        var e = Assert.Throws<FormatException>(() => Fabric.Storage.Osd.OsdOptions.FromEnvironment(name => name == "FABRIC_OSD_JOURNAL_MIB" ? text : null));
        Assert.Contains("FABRIC_OSD_JOURNAL_MIB", e.Message);
        Assert.Contains("0 uses RocksDB's WAL", e.Message);
    }

    [Theory]
    [InlineData("32", 32L << 20)]
    [InlineData("0", 0L)]
    public void The_recovery_rate_comes_from_the_environment_in_MiB_per_second(string text, long bytes) =>
        Assert.Equal(bytes, Fabric.Storage.Osd.OsdOptions.FromEnvironment(name => name == "FABRIC_OSD_RECOVERY_MIBPS" ? text : null).RecoveryBytesPerSecond);

    [Fact]
    public void A_bad_recovery_rate_is_an_error_naming_the_variable_and_the_fix()
    {
        var e = Assert.Throws<FormatException>(() => Fabric.Storage.Osd.OsdOptions.FromEnvironment(name => name == "FABRIC_OSD_RECOVERY_MIBPS" ? "fast" : null));
        Assert.Contains("FABRIC_OSD_RECOVERY_MIBPS", e.Message);
        Assert.Contains("0 means unlimited", e.Message);
    }

    [Fact]
    public void Without_the_variable_a_node_journals_64_MiB() =>
        Assert.Equal(64L << 20, Fabric.Storage.Osd.OsdOptions.FromEnvironment(_ => null).JournalBytes);
}
