// Iterators: order, both directions, seeks, bounds kept by RocksDB, prefix helper, and refusal of
// calls that would reach RocksDB's undefined behaviour.
using Fabric.RocksDb.Tests.Support;

namespace Fabric.RocksDb.Tests;

public sealed class IteratorTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly RocksDatabase _db;
    private readonly ColumnFamily _cf;

    public IteratorTests()
    {
        _db = RocksDatabase.Open(_dir.Sub("db"), columnFamilies: ["objects"]);
        _cf = _db.GetColumnFamily("objects");
        foreach (var k in new[] { "a", "ab", "abc", "abd", "b", "b\u00ff", "c" }) _db.Put(_cf, Bytes.Of(k), Bytes.Of(k.ToUpperInvariant()));
        _db.Put(_cf, [0x61, 0x62, 0xFF], Bytes.Of("ab-ff"));
        _db.Put(_cf, [0x61, 0x62, 0xFF, 0xFF], Bytes.Of("ab-ff-ff"));
    }

    public void Dispose()
    {
        _db.Dispose();
        _dir.Dispose();
    }

    private static List<string> Forward(RocksDbIterator it)
    {
        var keys = new List<string>();
        for (it.SeekToFirst(); it.Valid; it.Next()) keys.Add(Convert.ToHexString(it.Key));
        return keys;
    }

    private static string Hex(string text) => Convert.ToHexString(Bytes.Of(text));

    [Fact]
    public void Iterates_in_bytewise_order_forward_and_backward_with_values()
    {
        using var it = _db.NewIterator(_cf);
        var forward = Forward(it);
        Assert.Equal(9, forward.Count);
        Assert.Equal(forward.OrderBy(h => Convert.FromHexString(h), Bytes.BytewiseComparer.Instance), forward);

        var backward = new List<string>();
        for (it.SeekToLast(); it.Valid; it.Prev()) backward.Add(Convert.ToHexString(it.Key));
        backward.Reverse();
        Assert.Equal(forward, backward);

        it.Seek(Bytes.Of("abc"));
        Assert.Equal("abc", Bytes.Text(it.Key));
        Assert.Equal("ABC", Bytes.Text(it.Value));
    }

    [Fact]
    public void Seek_and_SeekForPrev_land_on_the_nearest_key_each_side()
    {
        using var it = _db.NewIterator(_cf);
        it.Seek(Bytes.Of("abcc"));
        Assert.Equal("abd", Bytes.Text(it.Key));
        it.SeekForPrev(Bytes.Of("abcc"));
        Assert.Equal("abc", Bytes.Text(it.Key));
        it.Seek(Bytes.Of("zzz"));
        Assert.False(it.Valid);
        it.SeekForPrev(Bytes.Of("0"));
        Assert.False(it.Valid);
        it.Seek([]);
        Assert.Equal("a", Bytes.Text(it.Key));
    }

    [Fact]
    public void Bounds_are_enforced_by_rocksdb_and_the_caller_may_reuse_the_bound_arrays()
    {
        var lower = Bytes.Of("ab");
        var upper = Bytes.Of("b");
        using var it = _db.NewIterator(_cf, new IteratorOptions { LowerBound = lower, UpperBound = upper });
        // The iterator owns native copies of the bounds.
        Array.Fill(lower, (byte)0);
        Array.Fill(upper, (byte)0xFF);
        Assert.Equal(new[] { "ab", "abc", "abd" }.Select(Hex).Concat(["6162FF", "6162FFFF"]), Forward(it));
        it.SeekToLast();
        Assert.Equal("6162FFFF", Convert.ToHexString(it.Key));
        it.Seek(Bytes.Of("a"));
        Assert.Equal("ab", Bytes.Text(it.Key));
    }

    [Fact]
    public void Prefix_iteration_visits_exactly_the_keys_with_the_prefix()
    {
        using (var it = _db.NewPrefixIterator(_cf, Bytes.Of("ab")))
        {
            Assert.Equal(new[] { Hex("ab"), Hex("abc"), Hex("abd"), "6162FF", "6162FFFF" }, Forward(it));
        }
        using (var it = _db.NewPrefixIterator(_cf, [0x61, 0x62, 0xFF]))
        {
            Assert.Equal(["6162FF", "6162FFFF"], Forward(it));
        }
        using (var it = _db.NewPrefixIterator(_cf, []))
        {
            Assert.Equal(9, Forward(it).Count);
        }
        using (var it = _db.NewPrefixIterator(_cf, Bytes.Of("zz")))
        {
            Assert.Empty(Forward(it));
        }
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 }, new byte[] { 1, 2, 4 })]
    [InlineData(new byte[] { 1, 0xFF }, new byte[] { 2 })]
    [InlineData(new byte[] { 0xFF, 0xFF }, null)]
    [InlineData(new byte[0], null)]
    public void PrefixSuccessor_is_the_first_key_after_all_keys_with_the_prefix(byte[] prefix, byte[]? expected)
    {
        Assert.Equal(expected, IteratorOptions.PrefixSuccessor(prefix));
    }

    [Fact]
    public void Key_value_next_and_prev_on_an_invalid_iterator_throw_instead_of_crashing()
    {
        using var it = _db.NewIterator(_cf);
        Assert.False(it.Valid);
        Assert.Throws<InvalidOperationException>(() => it.Key.Length);
        Assert.Throws<InvalidOperationException>(() => it.Value.Length);
        Assert.Throws<InvalidOperationException>(() => it.Next());
        Assert.Throws<InvalidOperationException>(() => it.Prev());
        it.SeekToLast();
        it.Next();
        Assert.False(it.Valid);
        Assert.Throws<InvalidOperationException>(() => it.Key.Length);
        it.ThrowIfError();
    }

    [Fact]
    public void An_iterator_sees_the_state_at_its_creation()
    {
        using var it = _db.NewIterator(_cf);
        _db.Put(_cf, Bytes.Of("aa"), Bytes.Of("later"));
        _db.Delete(_cf, Bytes.Of("c"));
        var keys = Forward(it);
        Assert.DoesNotContain(Hex("aa"), keys);
        Assert.Contains(Hex("c"), keys);
    }

    [Fact]
    public void Iteration_crosses_memtable_and_sst_and_skips_range_deletions()
    {
        var cf = _db.CreateColumnFamily("mixed");
        for (int i = 0; i < 100; i++) _db.Put(cf, Bytes.Of($"k{i:D3}"), Bytes.Of($"{i}"));
        _db.Flush(cf);
        for (int i = 100; i < 150; i++) _db.Put(cf, Bytes.Of($"k{i:D3}"), Bytes.Of($"{i}"));
        _db.DeleteRange(cf, Bytes.Of("k010"), Bytes.Of("k120"));
        using var it = _db.NewIterator(cf, new IteratorOptions { FillCache = false });
        var keys = new List<string>();
        for (it.SeekToFirst(); it.Valid; it.Next()) keys.Add(Bytes.Text(it.Key));
        Assert.Equal(Enumerable.Range(0, 10).Concat(Enumerable.Range(120, 30)).Select(i => $"k{i:D3}"), keys);
    }
}
