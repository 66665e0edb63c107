using System.Buffers;
using Fabric.Core.Io;

namespace Fabric.BlockBackend.Cache;

/// <summary>
/// A volume decorated with the node's <see cref="BlockCache"/>: reads of whole 4 KiB blocks are served from
/// the cache when present; misses read the volume and fill the cache; writes go to the volume first and
/// update the cache only after the volume acknowledged them (write-through); discard and write-zeroes
/// invalidate. <see cref="Drop"/> forgets everything at once (lock lost).
/// </summary>
/// <remarks>
/// Coherence under concurrency: every block maps to a stripe with a sequence number and a count of writes
/// in flight. A write bumps the sequence at start; a read miss remembers the sequence before reading the
/// volume and fills the cache only if no write started or is running on that stripe since. A write fills
/// the cache only if it had its stripe to itself from start to end; otherwise (two overlapping writes whose
/// order at the volume is unknown) it removes the block. So the cache never holds bytes the volume does not.
/// Blocks only partly covered by a write are removed, not patched.
/// The cache is used only while this node holds the volume's lock: the owner calls <see cref="Drop"/> when
/// the lock is lost and <see cref="Enable"/> when it is (re)acquired.
/// </remarks>
public sealed class CachedBlockVolume : IBlockVolume
{
    private const int BlockBytes = 4096;
    private const int StripeCount = 1024;
    private const int MaxPopulateBlocks = 1024;

    private readonly IBlockVolume _inner;
    private readonly BlockCache _cache;
    private readonly bool _ownsInner;
    private readonly Stripe[] _stripes = new Stripe[StripeCount];
    private volatile bool _enabled = true;
    private long _generation;
    private long _hits;
    private long _misses;

    private sealed class Stripe
    {
        public long Sequence;
        public int Writers;
    }

    public CachedBlockVolume(IBlockVolume inner, BlockCache cache, bool ownsInner = true)
    {
        _inner = inner;
        _cache = cache;
        _ownsInner = ownsInner;
        _generation = cache.NewGeneration();
        for (int i = 0; i < StripeCount; i++)
        {
            _stripes[i] = new Stripe();
        }
    }

    public IBlockVolume Inner => _inner;

    public string Name => _inner.Name;

    public long SizeBytes => _inner.SizeBytes;

    public int LogicalBlockSize => _inner.LogicalBlockSize;

    public bool ReadOnly => _inner.ReadOnly;

    /// <summary>The volume's own: this cache holds only what the volume acknowledged.</summary>
    public bool VolatileWriteCache => _inner.VolatileWriteCache;

    public bool Enabled => _enabled;

    /// <summary>Blocks served from the cache / read from the volume by this volume.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Forgets every cached block of this volume and stops caching (the lock moved elsewhere).</summary>
    public void Drop()
    {
        _enabled = false;
        BumpAllStripes();
        Interlocked.Exchange(ref _generation, _cache.NewGeneration());
    }

    /// <summary>Starts caching again from empty (the lock is held again).</summary>
    public void Enable()
    {
        BumpAllStripes();
        Interlocked.Exchange(ref _generation, _cache.NewGeneration());
        _enabled = true;
    }

    private void BumpAllStripes()
    {
        foreach (var s in _stripes)
        {
            lock (s)
            {
                s.Sequence++;
            }
        }
    }

    private Stripe StripeOf(long block) => _stripes[(int)((ulong)block % StripeCount)];

    public async ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (!_enabled || destination.IsEmpty || !Volumes.BlockRange.IsInside(offset, destination.Length, SizeBytes))
        {
            return await _inner.ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
        }
        long generation = Interlocked.Read(ref _generation);
        long first = offset / BlockBytes;
        long last = (offset + destination.Length - 1) / BlockBytes;

        // Whole request from the cache when every block is there.
        byte[] block = ArrayPool<byte>.Shared.Rent(BlockBytes);
        try
        {
            bool allHit = true;
            for (long b = first; b <= last && allHit; b++)
            {
                long blockStart = b * BlockBytes;
                if (blockStart + BlockBytes > SizeBytes)
                {
                    allHit = false; // a partial tail block is never cached
                    break;
                }
                long from = Math.Max(offset, blockStart);
                long to = Math.Min(offset + destination.Length, blockStart + BlockBytes);
                if (from == blockStart && to == blockStart + BlockBytes)
                {
                    // Whole block: straight into the caller's buffer.
                    if (!_cache.TryRead(generation, b, destination.Span.Slice((int)(from - offset), BlockBytes)))
                    {
                        allHit = false;
                    }
                    continue;
                }
                if (!_cache.TryRead(generation, b, block.AsSpan(0, BlockBytes)))
                {
                    allHit = false;
                    break;
                }
                block.AsSpan((int)(from - blockStart), (int)(to - from)).CopyTo(destination.Span[(int)(from - offset)..]);
            }
            if (allHit)
            {
                Interlocked.Add(ref _hits, last - first + 1);
                return BlockIoStatus.Ok;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }

        // Miss: read the volume, then fill the cache with the whole blocks the read covered, unless a write
        // raced with it on the same stripe.
        Interlocked.Add(ref _misses, last - first + 1);
        long fullFirst = (offset + BlockBytes - 1) / BlockBytes;
        long fullLast = (offset + destination.Length) / BlockBytes - 1;
        int count = (int)Math.Max(0, fullLast - fullFirst + 1);
        if (count > MaxPopulateBlocks)
        {
            count = 0; // a big sequential read: do not flush the cache with it
        }
        long[]? sequences = count > 0 ? ArrayPool<long>.Shared.Rent(count) : null;
        try
        {
            for (int i = 0; i < count; i++)
            {
                var s = StripeOf(fullFirst + i);
                lock (s)
                {
                    sequences![i] = s.Writers > 0 ? -1 : s.Sequence;
                }
            }
            var status = await _inner.ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
            if (status != BlockIoStatus.Ok || !_enabled || generation != Interlocked.Read(ref _generation))
            {
                return status;
            }
            for (int i = 0; i < count; i++)
            {
                long b = fullFirst + i;
                var s = StripeOf(b);
                lock (s)
                {
                    if (sequences![i] >= 0 && s.Writers == 0 && s.Sequence == sequences[i])
                    {
                        _cache.Put(generation, b, destination.Span.Slice((int)(b * BlockBytes - offset), BlockBytes));
                    }
                }
            }
            return status;
        }
        finally
        {
            if (sequences is not null)
            {
                ArrayPool<long>.Shared.Return(sequences);
            }
        }
    }

    public async ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken)
    {
        if (source.IsEmpty || !Volumes.BlockRange.IsInside(offset, source.Length, SizeBytes))
        {
            return await _inner.WriteAsync(offset, source, fua, cancellationToken).ConfigureAwait(false);
        }
        var range = BeginChange(offset, source.Length);
        var status = BlockIoStatus.IoError;
        try
        {
            status = await _inner.WriteAsync(offset, source, fua, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            EndChange(range, status == BlockIoStatus.Ok ? source : null, offset);
        }
        return status;
    }

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        Invalidating(offset, length, static (v, o, l, ct) => v.DiscardAsync(o, l, ct), cancellationToken);

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) =>
        Invalidating(offset, length, static (v, o, l, ct) => v.WriteZeroesAsync(o, l, ct), cancellationToken);

    private async ValueTask<BlockIoStatus> Invalidating(long offset, long length,
        Func<IBlockVolume, long, long, CancellationToken, ValueTask<BlockIoStatus>> operation, CancellationToken cancellationToken)
    {
        if (length <= 0 || !Volumes.BlockRange.IsInside(offset, length, SizeBytes))
        {
            return await operation(_inner, offset, length, cancellationToken).ConfigureAwait(false);
        }
        var range = BeginChange(offset, length);
        try
        {
            return await operation(_inner, offset, length, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            EndChange(range, null, offset);
        }
    }

    /// <summary>The blocks a change touches and what each stripe looked like when it started.</summary>
    private readonly record struct ChangeRange(long First, long Last, bool AllStripes, long[] Sequences, bool[] Overlapped, long Generation);

    private ChangeRange BeginChange(long offset, long length)
    {
        long first = offset / BlockBytes;
        long last = (offset + length - 1) / BlockBytes;
        bool all = last - first + 1 >= StripeCount;
        int count = all ? StripeCount : (int)(last - first + 1);
        var sequences = ArrayPool<long>.Shared.Rent(count);
        var overlapped = ArrayPool<bool>.Shared.Rent(count);
        for (int i = 0; i < count; i++)
        {
            var s = all ? _stripes[i] : StripeOf(first + i);
            lock (s)
            {
                overlapped[i] = s.Writers > 0;
                s.Writers++;
                sequences[i] = ++s.Sequence;
            }
        }
        return new ChangeRange(first, last, all, sequences, overlapped, Interlocked.Read(ref _generation));
    }

    private void EndChange(ChangeRange range, ReadOnlyMemory<byte>? written, long offset)
    {
        bool caching = _enabled && range.Generation == Interlocked.Read(ref _generation);
        if (range.AllStripes)
        {
            // Too many blocks to visit one by one: forget the volume's cache instead.
            if (caching)
            {
                Interlocked.Exchange(ref _generation, _cache.NewGeneration());
            }
            for (int i = 0; i < StripeCount; i++)
            {
                var s = _stripes[i];
                lock (s)
                {
                    s.Writers--;
                    s.Sequence++;
                }
            }
        }
        else
        {
            for (long b = range.First; b <= range.Last; b++)
            {
                int i = (int)(b - range.First);
                var s = StripeOf(b);
                lock (s)
                {
                    s.Writers--;
                    bool alone = !range.Overlapped[i] && s.Sequence == range.Sequences[i];
                    long blockStart = b * BlockBytes;
                    bool whole = written is { } w && blockStart >= offset && blockStart + BlockBytes <= offset + w.Length;
                    if (caching && alone && whole)
                    {
                        _cache.Put(range.Generation, b, written!.Value.Span.Slice((int)(blockStart - offset), BlockBytes));
                    }
                    else if (caching)
                    {
                        _cache.Remove(range.Generation, b);
                    }
                    if (!alone)
                    {
                        s.Sequence++; // whoever else is on this stripe must not trust its snapshot either
                    }
                }
            }
        }
        ArrayPool<long>.Shared.Return(range.Sequences);
        ArrayPool<bool>.Shared.Return(range.Overlapped);
    }

    public async ValueTask DisposeAsync()
    {
        Drop();
        if (_ownsInner)
        {
            await _inner.DisposeAsync().ConfigureAwait(false);
        }
    }
}
