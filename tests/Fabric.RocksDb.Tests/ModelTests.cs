// Property test: a random sequence of puts, deletes, range deletes, batches, flushes, snapshots and
// reopens applied both to RocksDB and to a SortedDictionary model (bytewise order) must leave the
// same contents: by point reads of every key of the domain, by forward and backward iteration, by
// every snapshot taken on the way, and again after a final reopen.
using FsCheck;
using FsCheck.Fluent;
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class ModelTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public enum OpKind { Put, Delete, DeleteRange, Batch, Flush, Snapshot, Reopen }

    public sealed record Op(OpKind Kind, byte[] Key, byte[] Other, Op[] Batch)
    {
        public override string ToString() => Kind switch
        {
            OpKind.Put => $"Put({Convert.ToHexString(Key)}={Convert.ToHexString(Other)})",
            OpKind.Delete => $"Delete({Convert.ToHexString(Key)})",
            OpKind.DeleteRange => $"DeleteRange({Convert.ToHexString(Key)}..{Convert.ToHexString(Other)})",
            OpKind.Batch => $"Batch[{string.Join(", ", Batch.Select(o => o.ToString()))}]",
            _ => Kind.ToString(),
        };
    }

    // A small key domain (length 0-2 over bytes that probe ordering edges) so operations collide.
    private static readonly byte[] Alphabet = [0x00, 0x01, 0x61, 0xFE, 0xFF];

    private static readonly byte[][] KeyDomain =
        [[], .. Alphabet.Select(a => new[] { a }), .. Alphabet.SelectMany(a => Alphabet.Select(b => new[] { a, b }))];

    private static Gen<byte[]> KeyGen => Gen.Elements(KeyDomain);

    private static Gen<byte[]> ValueGen =>
        from length in Gen.Choose(0, 12)
        from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i), length)
        select bytes;

    private static Gen<Op> PutGen => from k in KeyGen from v in ValueGen select new Op(OpKind.Put, k, v, []);

    private static Gen<Op> DeleteGen => KeyGen.Select(k => new Op(OpKind.Delete, k, [], []));

    private static Gen<Op> DeleteRangeGen =>
        from a in KeyGen
        from b in KeyGen
        let ordered = Bytes.BytewiseComparer.Instance.Compare(a, b) <= 0
        select new Op(OpKind.DeleteRange, ordered ? a : b, ordered ? b : a, []);

    private static Gen<Op> SimpleGen => Gen.Frequency((6, PutGen), (2, DeleteGen), (1, DeleteRangeGen));

    private static Gen<Op> BatchGen =>
        from n in Gen.Choose(0, 6)
        from ops in Gen.ArrayOf(SimpleGen, n)
        select new Op(OpKind.Batch, [], [], ops);

    private static Gen<Op> OpGen => Gen.Frequency(
        (10, PutGen), (3, DeleteGen), (2, DeleteRangeGen), (3, BatchGen),
        (1, Gen.Constant(new Op(OpKind.Flush, [], [], []))),
        (1, Gen.Constant(new Op(OpKind.Snapshot, [], [], []))),
        (1, Gen.Constant(new Op(OpKind.Reopen, [], [], []))));

    private static Gen<Op[]> ScenarioGen => from n in Gen.Choose(0, 60) from ops in Gen.ArrayOf(OpGen, n) select ops;

    [Fact]
    public void Random_operation_sequences_match_a_sorted_dictionary_model()
    {
        int run = 0;
        Prop.ForAll(ScenarioGen.ToArbitrary(), ops => RunScenario(_dir.Sub($"run{run++}"), ops))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(60));
    }

    private static void RunScenario(string path, Op[] ops)
    {
        var model = NewModel();
        var snapshots = new List<(RocksDbSnapshot Snapshot, SortedDictionary<byte[], byte[]> Model)>();
        var db = RocksDatabase.Open(path, new RocksDbOptions { WriteBufferSizeBytes = 64 << 10, LogLevel = RocksDbLogLevel.Warn }, ["model"]);
        try
        {
            foreach (var op in ops)
            {
                var cf = db.GetColumnFamily("model");
                switch (op.Kind)
                {
                    case OpKind.Put:
                    case OpKind.Delete:
                    case OpKind.DeleteRange:
                        ApplyDirect(db, cf, op);
                        ApplyToModel(model, op);
                        break;
                    case OpKind.Batch:
                        using (var batch = new WriteBatch())
                        {
                            foreach (var inner in op.Batch) AddToBatch(batch, cf, inner);
                            Assert.Equal(op.Batch.Length, batch.Count);
                            db.Write(batch);
                        }
                        foreach (var inner in op.Batch) ApplyToModel(model, inner);
                        break;
                    case OpKind.Flush:
                        db.Flush(cf);
                        break;
                    case OpKind.Snapshot:
                        snapshots.Add((db.GetSnapshot(), new SortedDictionary<byte[], byte[]>(model, Bytes.BytewiseComparer.Instance)));
                        break;
                    case OpKind.Reopen:
                        CheckSnapshots(db, snapshots);
                        snapshots.Clear();
                        db.Dispose();
                        db = RocksDatabase.Open(path, new RocksDbOptions { WriteBufferSizeBytes = 64 << 10, LogLevel = RocksDbLogLevel.Warn });
                        break;
                }
            }
            Compare(db, model, snapshot: null);
            CheckSnapshots(db, snapshots);
        }
        finally
        {
            db.Dispose();
        }
        using (var reopened = RocksDatabase.Open(path))
        {
            Compare(reopened, model, snapshot: null);
        }
    }

    private static void CheckSnapshots(RocksDatabase db, List<(RocksDbSnapshot Snapshot, SortedDictionary<byte[], byte[]> Model)> snapshots)
    {
        foreach (var (snapshot, snapshotModel) in snapshots)
        {
            Compare(db, snapshotModel, snapshot);
            snapshot.Dispose();
        }
    }

    private static SortedDictionary<byte[], byte[]> NewModel() => new(Bytes.BytewiseComparer.Instance);

    private static void ApplyDirect(RocksDatabase db, ColumnFamily cf, Op op)
    {
        switch (op.Kind)
        {
            case OpKind.Put: db.Put(cf, op.Key, op.Other); break;
            case OpKind.Delete: db.Delete(cf, op.Key); break;
            case OpKind.DeleteRange: db.DeleteRange(cf, op.Key, op.Other); break;
        }
    }

    private static void AddToBatch(WriteBatch batch, ColumnFamily cf, Op op)
    {
        switch (op.Kind)
        {
            case OpKind.Put:
                // Exercise the two-part put too: it must store the concatenation.
                if (op.Other.Length % 2 == 0) batch.Put(cf, op.Key, op.Other);
                else batch.Put(cf, op.Key, op.Other.AsSpan(0, op.Other.Length / 2), op.Other.AsSpan(op.Other.Length / 2));
                break;
            case OpKind.Delete: batch.Delete(cf, op.Key); break;
            case OpKind.DeleteRange: batch.DeleteRange(cf, op.Key, op.Other); break;
        }
    }

    private static void ApplyToModel(SortedDictionary<byte[], byte[]> model, Op op)
    {
        switch (op.Kind)
        {
            case OpKind.Put: model[op.Key] = op.Other; break;
            case OpKind.Delete: model.Remove(op.Key); break;
            case OpKind.DeleteRange:
                foreach (var key in model.Keys.Where(k =>
                             Bytes.BytewiseComparer.Instance.Compare(k, op.Key) >= 0 &&
                             Bytes.BytewiseComparer.Instance.Compare(k, op.Other) < 0).ToList())
                {
                    model.Remove(key);
                }
                break;
        }
    }

    private static void Compare(RocksDatabase db, SortedDictionary<byte[], byte[]> model, RocksDbSnapshot? snapshot)
    {
        var cf = db.GetColumnFamily("model");
        var expected = model.Select(kv => $"{Convert.ToHexString(kv.Key)}={Convert.ToHexString(kv.Value)}").ToList();

        using var it = db.NewIterator(cf, new IteratorOptions { Snapshot = snapshot });
        var forward = new List<string>();
        for (it.SeekToFirst(); it.Valid; it.Next()) forward.Add($"{Convert.ToHexString(it.Key)}={Convert.ToHexString(it.Value)}");
        Assert.Equal(expected, forward);

        var backward = new List<string>();
        for (it.SeekToLast(); it.Valid; it.Prev()) backward.Add($"{Convert.ToHexString(it.Key)}={Convert.ToHexString(it.Value)}");
        backward.Reverse();
        Assert.Equal(expected, backward);

        var buffer = new byte[16];
        foreach (var key in KeyDomain)
        {
            var status = db.Get(cf, key, buffer, out int length, snapshot);
            if (model.TryGetValue(key, out var value))
            {
                Assert.Equal(GetStatus.Found, status);
                Assert.Equal(value, buffer.AsSpan(0, length).ToArray());
            }
            else
            {
                Assert.Equal(GetStatus.NotFound, status);
            }
        }
    }
}
