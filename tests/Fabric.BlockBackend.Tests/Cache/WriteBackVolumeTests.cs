using Fabric.BlockBackend.Cache;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Io;

namespace Fabric.BlockBackend.Tests.Cache;

/// <summary>
/// The write cache acknowledges writes from memory and keeps a volatile disk cache's contract: reads see every
/// acknowledged write, a flush completes only once everything acknowledged before it is in the volume, writes it
/// does not take never land under older cached data, and a refused write-back is reported by the next flush.
/// </summary>
public sealed class WriteBackVolumeTests
{
    private const int Block = WriteBackVolume.BlockBytes;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>A memory volume whose writes can be held (a stalled cluster), delayed at random, refused, and counted.</summary>
    private sealed class BackingVolume(long size, int seed = 0) : IBlockVolume
    {
        private readonly MemoryBlockVolume _memory = new("backing", size);
        private readonly Random _random = new(seed);
        private volatile TaskCompletionSource _gate = Opened();
        private int _held;
        private long _writes;
        private long _writeBytes;

        public bool RandomDelays { get; set; }
        public BlockIoStatus RefuseWith { get; set; } = BlockIoStatus.Ok;
        public int Held => Volatile.Read(ref _held);
        public long Writes => Interlocked.Read(ref _writes);
        public long WriteBytes => Interlocked.Read(ref _writeBytes);

        private static TaskCompletionSource Opened()
        {
            var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            t.SetResult();
            return t;
        }

        public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _gate.TrySetResult();

        public byte[] Snapshot()
        {
            var all = new byte[SizeBytes];
            Assert.Equal(BlockIoStatus.Ok, _memory.ReadAsync(0, all, default).AsTask().GetAwaiter().GetResult());
            return all;
        }

        public string Name => "backing";
        public long SizeBytes => _memory.SizeBytes;
        public int LogicalBlockSize => 512;
        public bool ReadOnly => false;

        private async Task Stall()
        {
            Interlocked.Increment(ref _held);
            try
            {
                await _gate.Task;
                if (RandomDelays)
                {
                    int delay;
                    lock (_random) delay = _random.Next(3);
                    if (delay == 1) await Task.Yield();
                    else if (delay == 2) await Task.Delay(1);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _held);
            }
        }

        public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
            _memory.ReadAsync(offset, destination, cancellationToken);

        public async ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken)
        {
            await Stall();
            Interlocked.Increment(ref _writes);
            Interlocked.Add(ref _writeBytes, source.Length);
            if (RefuseWith != BlockIoStatus.Ok) return RefuseWith;
            return await _memory.WriteAsync(offset, source, fua, cancellationToken);
        }

        public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken) => _memory.FlushAsync(cancellationToken);

        public async ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken)
        {
            await Stall();
            return await _memory.DiscardAsync(offset, length, cancellationToken);
        }

        public async ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken)
        {
            await Stall();
            return await _memory.WriteZeroesAsync(offset, length, cancellationToken);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static WriteBackOptions Options(long maxDirty = 1 << 20, TimeSpan? age = null) => new()
    {
        MaxDirtyBytes = maxDirty,
        MaxDirtyAge = age ?? TimeSpan.FromMinutes(5), // only the tests about age rely on the timer
        MaxWritebackBytes = 64 * Block,
        SplitBytes = 256 * Block,
        DirectWriteBytes = 128 * Block,
    };

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, $"timed out waiting for: {what}");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task A_write_is_acknowledged_from_memory_read_back_at_once_and_made_durable_by_the_flush()
    {
        var backing = new BackingVolume(1 << 20);
        await using var cache = new WriteBackVolume(backing, Options());
        backing.Hold();

        var data = Pattern(8 * Block, 1);
        Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(16 * Block, data, false, default));
        Assert.Equal(8 * Block, cache.DirtyBytes);

        // Read-your-writes: fully cached, partly cached (with an unwritten neighbour) and unaligned reads.
        var back = new byte[8 * Block];
        Assert.Equal(BlockIoStatus.Ok, await cache.ReadAsync(16 * Block, back, default));
        Assert.Equal(data, back);
        var around = new byte[10 * Block];
        Assert.Equal(BlockIoStatus.Ok, await cache.ReadAsync(15 * Block, around, default));
        Assert.Equal(new byte[Block], around[..Block]);
        Assert.Equal(data, around[Block..(9 * Block)]);
        var odd = new byte[1000];
        Assert.Equal(BlockIoStatus.Ok, await cache.ReadAsync(16 * Block + 3000, odd, default));
        Assert.Equal(data.AsSpan(3000, 1000).ToArray(), odd);
        Assert.Equal(new byte[8 * Block], backing.Snapshot()[(16 * Block)..(24 * Block)]);

        var flush = cache.FlushAsync(default).AsTask();
        await Eventually(() => backing.Held > 0, "the flush starts a write-back");
        Assert.False(flush.IsCompleted, "a flush completed while the data was still only in memory");
        backing.Release();
        Assert.Equal(BlockIoStatus.Ok, await flush.WaitAsync(Deadline));
        Assert.Equal(data, backing.Snapshot()[(16 * Block)..(24 * Block)]);
        Assert.Equal(0, cache.DirtyBytes);
    }

    [Fact]
    public async Task Adjacent_small_writes_reach_the_volume_as_few_large_ones_split_at_object_boundaries()
    {
        var backing = new BackingVolume(4 << 20);
        await using var cache = new WriteBackVolume(backing, Options(maxDirty: 4 << 20));
        var expected = new byte[512 * Block];
        for (int i = 0; i < 512; i++)
        {
            var piece = Pattern(Block, 100 + i);
            piece.CopyTo(expected, i * Block);
            Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync((long)i * Block, piece, false, default));
        }
        Assert.Equal(BlockIoStatus.Ok, await cache.FlushAsync(default));
        Assert.Equal(expected, backing.Snapshot()[..(512 * Block)]);
        // 512 blocks in runs of at most 64: at least 8 write-backs, and far fewer than 512.
        Assert.InRange(backing.Writes, 8, 16);
        Assert.Equal(512L * Block, backing.WriteBytes);
    }

    [Fact]
    public async Task A_flush_waits_for_a_block_rewritten_while_its_write_back_runs_and_the_newest_bytes_win()
    {
        var backing = new BackingVolume(1 << 20);
        await using var cache = new WriteBackVolume(backing, Options());
        var first = Pattern(Block, 1);
        var second = Pattern(Block, 2);
        Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(0, first, false, default));
        backing.Hold();
        var flush1 = cache.FlushAsync(default).AsTask();
        await Eventually(() => backing.Held == 1, "the first write-back is running");
        Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(0, second, false, default));
        var flush2 = cache.FlushAsync(default).AsTask();
        Assert.Equal(1, backing.Held); // one write-back per block at a time
        backing.Release();
        Assert.Equal(BlockIoStatus.Ok, await flush1.WaitAsync(Deadline));
        Assert.Equal(BlockIoStatus.Ok, await flush2.WaitAsync(Deadline));
        Assert.Equal(second, backing.Snapshot()[..Block]);
        Assert.Equal(2, backing.Writes);
    }

    [Fact]
    public async Task Writers_wait_when_the_dirty_limit_is_reached_and_go_on_as_write_backs_finish()
    {
        var backing = new BackingVolume(4 << 20);
        await using var cache = new WriteBackVolume(backing, Options(maxDirty: 16 * Block));
        backing.Hold();
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync((long)i * 2 * Block, Pattern(Block, i), false, default));
        }
        var blocked = cache.WriteAsync(100 * Block, Pattern(Block, 99), false, default).AsTask();
        await Eventually(() => backing.Held > 0, "a full cache writes back");
        Assert.False(blocked.IsCompleted, "a write was taken past the dirty limit");
        backing.Release();
        Assert.Equal(BlockIoStatus.Ok, await blocked.WaitAsync(Deadline));
        Assert.Equal(BlockIoStatus.Ok, await cache.FlushAsync(default));
        Assert.Equal(Pattern(Block, 99), backing.Snapshot()[(100 * Block)..(101 * Block)]);
    }

    [Fact]
    public async Task Dirty_data_older_than_the_age_limit_is_written_back_without_a_flush()
    {
        var backing = new BackingVolume(1 << 20);
        await using var cache = new WriteBackVolume(backing, Options(age: TimeSpan.FromMilliseconds(50)));
        var data = Pattern(Block, 5);
        Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(3 * Block, data, false, default));
        await Eventually(() => backing.Snapshot()[(3 * Block)..(4 * Block)].AsSpan().SequenceEqual(data), "the aged block reaches the volume");
        await Eventually(() => cache.DirtyBytes == 0, "nothing is dirty");
    }

    [Fact]
    public async Task Fua_and_unaligned_writes_discards_and_zeroes_never_land_under_older_cached_data()
    {
        var backing = new BackingVolume(1 << 20);
        await using var cache = new WriteBackVolume(backing, Options());
        backing.Hold();
        Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(0, Pattern(4 * Block, 1), false, default));
        var fua = Pattern(Block, 2);
        var direct = cache.WriteAsync(0, fua, true, default).AsTask();
        var unaligned = Pattern(100, 3);
        var odd = cache.WriteAsync(Block + 10, unaligned, false, default).AsTask();
        var zeroes = cache.WriteZeroesAsync(2 * Block, Block, default).AsTask();
        var discard = cache.DiscardAsync(3 * Block, Block, default).AsTask();
        await Eventually(() => backing.Held > 0, "write-back started");
        Assert.False(direct.IsCompleted || odd.IsCompleted || zeroes.IsCompleted || discard.IsCompleted);
        backing.Release();
        Assert.Equal(BlockIoStatus.Ok, await direct.WaitAsync(Deadline));
        Assert.Equal(BlockIoStatus.Ok, await odd.WaitAsync(Deadline));
        Assert.Equal(BlockIoStatus.Ok, await zeroes.WaitAsync(Deadline));
        Assert.Equal(BlockIoStatus.Ok, await discard.WaitAsync(Deadline));
        Assert.Equal(BlockIoStatus.Ok, await cache.FlushAsync(default));

        var expected = Pattern(4 * Block, 1);
        fua.CopyTo(expected, 0);
        unaligned.CopyTo(expected, Block + 10);
        Array.Clear(expected, 2 * Block, 2 * Block);
        Assert.Equal(expected, backing.Snapshot()[..(4 * Block)]);
        var read = new byte[4 * Block];
        Assert.Equal(BlockIoStatus.Ok, await cache.ReadAsync(0, read, default));
        Assert.Equal(expected, read);
    }

    [Fact]
    public async Task A_refused_write_back_fails_the_next_flush_once()
    {
        var backing = new BackingVolume(1 << 20) { RefuseWith = BlockIoStatus.Fenced };
        await using var cache = new WriteBackVolume(backing, Options());
        Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(0, Pattern(Block, 1), false, default));
        Assert.Equal(BlockIoStatus.Fenced, await cache.FlushAsync(default));
        backing.RefuseWith = BlockIoStatus.Ok;
        Assert.Equal(BlockIoStatus.Ok, await cache.FlushAsync(default));
    }

    [Fact]
    public async Task Out_of_range_writes_fail_at_once_and_disposing_writes_everything_back()
    {
        var backing = new BackingVolume(64 * Block);
        var cache = new WriteBackVolume(backing, Options());
        Assert.Equal(BlockIoStatus.OutOfRange, await cache.WriteAsync(64 * Block, Pattern(Block, 1), false, default));
        Assert.Equal(BlockIoStatus.OutOfRange, await cache.WriteAsync(-Block, Pattern(Block, 1), false, default));
        var data = Pattern(2 * Block, 7);
        Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(62 * Block, data, false, default));
        await cache.DisposeAsync();
        Assert.Equal(data, backing.Snapshot()[(62 * Block)..]);
        Assert.Equal(BlockIoStatus.IoError, await cache.WriteAsync(0, Pattern(Block, 1), false, default));
    }

    [Fact]
    public void Options_that_cannot_work_are_refused_with_the_reason()
    {
        Assert.Contains("at least 64KiB", new WriteBackOptions { MaxDirtyBytes = 4096 }.Validate());
        Assert.Contains("multiple of 4KiB", new WriteBackOptions { MaxWritebackBytes = 5000 }.Validate());
        Assert.Contains("target", new WriteBackOptions { MaxDirtyBytes = 1 << 20, TargetDirtyBytes = 2 << 20 }.Validate());
        Assert.Null(new WriteBackOptions().Validate());
        Assert.Throws<ArgumentException>(() => new WriteBackVolume(new MemoryBlockVolume("m", 1 << 20), new WriteBackOptions { MaxWritebacksInFlight = 0 }));
    }

    /// <summary>
    /// Many writers, readers and flushers at once over a volume whose writes complete late and out of order,
    /// against a model: each writer owns its own blocks (so the expected bytes are known at every moment);
    /// every read sees the owner's latest acknowledged write, and after each flush the volume itself holds
    /// everything acknowledged before the flush began.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Concurrent_writers_readers_and_flushers_agree_with_a_model(int seed)
    {
        const int Writers = 6;
        const int BlocksPerWriter = 48;
        var backing = new BackingVolume((long)Writers * BlocksPerWriter * Block, seed) { RandomDelays = true };
        await using var cache = new WriteBackVolume(backing, Options(maxDirty: 64 * Block) with { MaxWritebackBytes = 8 * Block, SplitBytes = 32 * Block, DirectWriteBytes = 16 * Block });

        async Task Writer(int w)
        {
            var random = new Random(seed * 1000 + w);
            var mine = new byte[BlocksPerWriter * Block];
            long baseOffset = (long)w * BlocksPerWriter * Block;
            for (int op = 0; op < 300; op++)
            {
                int start = random.Next(BlocksPerWriter);
                int kind = random.Next(10);
                if (kind < 5)
                {
                    int count = Math.Min(1 + random.Next(20), BlocksPerWriter - start); // up to 20 blocks: some go direct
                    var data = new byte[count * Block];
                    random.NextBytes(data);
                    bool fua = random.Next(10) == 0;
                    Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(baseOffset + (long)start * Block, data, fua, default));
                    data.CopyTo(mine, start * Block);
                }
                else if (kind == 5)
                {
                    int from = start * Block + random.Next(Block);
                    int length = Math.Min(1 + random.Next(3 * Block), mine.Length - from);
                    var data = new byte[length];
                    random.NextBytes(data);
                    Assert.Equal(BlockIoStatus.Ok, await cache.WriteAsync(baseOffset + from, data, false, default));
                    data.CopyTo(mine, from);
                }
                else if (kind == 6)
                {
                    int count = Math.Min(1 + random.Next(4), BlocksPerWriter - start);
                    Assert.Equal(BlockIoStatus.Ok, await cache.WriteZeroesAsync(baseOffset + (long)start * Block, (long)count * Block, default));
                    Array.Clear(mine, start * Block, count * Block);
                }
                else if (kind < 9)
                {
                    int from = random.Next(mine.Length);
                    int length = Math.Min(1 + random.Next(6 * Block), mine.Length - from);
                    var read = new byte[length];
                    Assert.Equal(BlockIoStatus.Ok, await cache.ReadAsync(baseOffset + from, read, default));
                    Assert.True(mine.AsSpan(from, length).SequenceEqual(read), $"writer {w} op {op}: a read missed an acknowledged write at {baseOffset + from}+{length}");
                }
                else
                {
                    var snapshot = (byte[])mine.Clone();
                    Assert.Equal(BlockIoStatus.Ok, await cache.FlushAsync(default));
                    var durable = backing.Snapshot().AsSpan((int)baseOffset, mine.Length);
                    // Only this writer writes its blocks, and it waits for the flush: the volume holds exactly the snapshot.
                    Assert.True(snapshot.AsSpan().SequenceEqual(durable), $"writer {w} op {op}: after a flush the volume lacks an acknowledged write");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(() => Writer(w)))).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(BlockIoStatus.Ok, await cache.FlushAsync(default));
        Assert.Equal(0, cache.DirtyBytes);
        Assert.True(cache.CachedWrites > 0 && cache.Writebacks > 0);
    }
}
