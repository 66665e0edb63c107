using Fabric.BlockBackend.Cache;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Io;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.BlockBackend.Tests.Cache;

/// <summary>The FASTER block cache never returns bytes the volume does not hold.</summary>
public sealed class CachedBlockVolumeTests : IDisposable
{
    private const int Sector = 512;
    private const long VolumeBytes = 64 * 4096 + 1024; // 64 whole blocks and a partial tail

    private readonly BlockCache _cache = new(new BlockCacheOptions
    {
        Enabled = true,
        MemoryBytes = 64 << 10,   // four 16 KiB pages: most blocks live in the spill file
        PageBytes = 16 << 10,
        DiskBytes = 1 << 20,      // and the oldest fall off
        IndexBytes = 1 << 16,
    });

    public void Dispose() => _cache.Dispose();

    public readonly record struct Op(int Kind, int SectorOffset, int Sectors, byte Value);

    private static Gen<Op> OpGen =>
        from kind in Gen.Choose(0, 9)
        from start in Gen.Choose(0, (int)(VolumeBytes / Sector) - 1)
        from sectors in Gen.Choose(1, 40)
        from value in Gen.Choose(1, 255)
        select new Op(kind, start, sectors, (byte)value);

    private static T Run<T>(ValueTask<T> task) => task.AsTask().GetAwaiter().GetResult();

    [Fact]
    public void Random_reads_writes_discards_and_drops_agree_with_a_model()
    {
        var property = Prop.ForAll(Arb.From(Gen.ArrayOf(OpGen)), ops =>
        {
            var inner = new MemoryBlockVolume("m", VolumeBytes);
            var cached = new CachedBlockVolume(inner, _cache);
            var model = new byte[VolumeBytes];
            foreach (var op in ops)
            {
                long offset = (long)op.SectorOffset * Sector;
                int length = (int)Math.Min((long)op.Sectors * Sector, VolumeBytes - offset);
                switch (op.Kind)
                {
                    case 0 or 1 or 2:
                    {
                        var data = new byte[length];
                        new Random(op.Value * 7919 + op.SectorOffset).NextBytes(data);
                        Assert.Equal(BlockIoStatus.Ok, Run(cached.WriteAsync(offset, data, false, default)));
                        data.CopyTo(model, offset);
                        break;
                    }
                    case 3 or 4 or 5 or 6:
                    {
                        var data = new byte[length];
                        Assert.Equal(BlockIoStatus.Ok, Run(cached.ReadAsync(offset, data, default)));
                        Assert.True(data.AsSpan().SequenceEqual(model.AsSpan((int)offset, length)), $"read at {offset}+{length} differs from the model");
                        break;
                    }
                    case 7:
                        Assert.Equal(BlockIoStatus.Ok, Run(cached.DiscardAsync(offset, length, default)));
                        Array.Clear(model, (int)offset, length);
                        break;
                    case 8:
                        Assert.Equal(BlockIoStatus.Ok, Run(cached.WriteZeroesAsync(offset, length, default)));
                        Array.Clear(model, (int)offset, length);
                        break;
                    default:
                        // The lock moves away and comes back; meanwhile someone else writes the volume directly.
                        cached.Drop();
                        var other = new byte[length];
                        Array.Fill(other, op.Value);
                        Run(inner.WriteAsync(offset, other, false, default));
                        other.CopyTo(model, offset);
                        cached.Enable();
                        break;
                }
            }
            var all = new byte[VolumeBytes];
            Assert.Equal(BlockIoStatus.Ok, Run(cached.ReadAsync(0, all, default)));
            Assert.True(all.AsSpan().SequenceEqual(model));
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(150), property);
        Assert.True(_cache.Hits > 0, "the property never hit the cache: it tested nothing");
    }

    [Fact]
    public async Task Concurrent_overlapping_writes_and_reads_leave_cache_and_volume_in_agreement()
    {
        var inner = new MemoryBlockVolume("c", 64 * 4096);
        var cached = new CachedBlockVolume(inner, _cache);
        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            var buffer = new byte[3 * 4096];
            for (int i = 0; i < 1500; i++)
            {
                long offset = random.Next(0, 16) * 2048L; // overlapping, half-block aligned
                int length = random.Next(1, 5) * 2048;
                if (random.Next(3) == 0)
                {
                    random.NextBytes(buffer.AsSpan(0, length));
                    await cached.WriteAsync(offset, buffer.AsMemory(0, length), false, default);
                }
                else
                {
                    await cached.ReadAsync(offset, buffer.AsMemory(0, length), default);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);

        var viaCache = new byte[4096];
        var direct = new byte[4096];
        for (int b = 0; b < 64; b++)
        {
            await cached.ReadAsync(b * 4096L, viaCache, default);
            await inner.ReadAsync(b * 4096L, direct, default);
            Assert.True(viaCache.AsSpan().SequenceEqual(direct), $"block {b}: the cache disagrees with the volume");
        }
    }

    [Fact]
    public async Task Rereads_are_served_from_the_cache_and_drop_forgets_them()
    {
        var inner = new MemoryBlockVolume("h", 1 << 20);
        var cached = new CachedBlockVolume(inner, _cache);
        var data = Enumerable.Range(0, 8192).Select(i => (byte)i).ToArray();
        await cached.WriteAsync(4096, data, false, default);
        long readsBefore = inner.ReadCount;
        var back = new byte[8192];
        for (int i = 0; i < 5; i++)
        {
            await cached.ReadAsync(4096, back, default);
            Assert.Equal(data, back);
        }
        Assert.Equal(readsBefore, inner.ReadCount); // write-through filled the cache
        Assert.Equal(10, cached.Hits);

        cached.Drop();
        await cached.ReadAsync(4096, back, default);
        Assert.Equal(readsBefore + 1, inner.ReadCount); // dropped: read from the volume, not cached
        await cached.ReadAsync(4096, back, default);
        Assert.Equal(readsBefore + 2, inner.ReadCount);
        cached.Enable();
        await cached.ReadAsync(4096, back, default);
        await cached.ReadAsync(4096, back, default);
        Assert.Equal(readsBefore + 3, inner.ReadCount);
        Assert.Equal(data, back);
    }
}
