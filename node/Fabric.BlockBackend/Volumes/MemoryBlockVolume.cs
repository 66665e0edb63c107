using Fabric.Core.Io;

namespace Fabric.BlockBackend.Volumes;

/// <summary>
/// A thin-provisioned volume in memory (64 KiB chunks allocated on first write), for tests and for the
/// model side of property tests. Every request completes synchronously; flush is a no-op because nothing
/// here is ever more durable than memory. Disposing does not drop the data: a test may reopen the same
/// instance through a provider.
/// </summary>
public sealed class MemoryBlockVolume : IBlockVolume
{
    private const int ChunkShift = 16;
    private const int ChunkBytes = 1 << ChunkShift;

    private readonly byte[]?[] _chunks;
    private readonly object _gate = new();

    public MemoryBlockVolume(string name, long sizeBytes, int logicalBlockSize = 512, bool readOnly = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeBytes);
        Name = name;
        SizeBytes = sizeBytes;
        LogicalBlockSize = logicalBlockSize;
        ReadOnly = readOnly;
        _chunks = new byte[]?[(sizeBytes + ChunkBytes - 1) >> ChunkShift];
    }

    public string Name { get; }

    public long SizeBytes { get; }

    public int LogicalBlockSize { get; }

    public bool ReadOnly { get; }

    /// <summary>Counts requests by kind, so tests can see what reached the volume (e.g. through a cache).</summary>
    public long ReadCount => Interlocked.Read(ref _reads);

    private long _reads;

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (!BlockRange.IsInside(offset, destination.Length, SizeBytes))
        {
            return new(BlockIoStatus.OutOfRange);
        }
        Interlocked.Increment(ref _reads);
        var span = destination.Span;
        lock (_gate)
        {
            while (!span.IsEmpty)
            {
                long chunk = offset >> ChunkShift;
                int within = (int)(offset & (ChunkBytes - 1));
                int n = Math.Min(span.Length, ChunkBytes - within);
                var data = _chunks[chunk];
                if (data is null)
                {
                    span[..n].Clear();
                }
                else
                {
                    data.AsSpan(within, n).CopyTo(span);
                }
                span = span[n..];
                offset += n;
            }
        }
        return new(BlockIoStatus.Ok);
    }

    public ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken)
    {
        if (!BlockRange.IsInside(offset, source.Length, SizeBytes))
        {
            return new(BlockIoStatus.OutOfRange);
        }
        if (ReadOnly)
        {
            return new(BlockIoStatus.ReadOnly);
        }
        var span = source.Span;
        lock (_gate)
        {
            while (!span.IsEmpty)
            {
                long chunk = offset >> ChunkShift;
                int within = (int)(offset & (ChunkBytes - 1));
                int n = Math.Min(span.Length, ChunkBytes - within);
                var data = _chunks[chunk] ??= new byte[ChunkBytes];
                span[..n].CopyTo(data.AsSpan(within));
                span = span[n..];
                offset += n;
            }
        }
        return new(BlockIoStatus.Ok);
    }

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken) => new(BlockIoStatus.Ok);

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        new(Zero(offset, length));

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) =>
        new(Zero(offset, length));

    private BlockIoStatus Zero(long offset, long length)
    {
        if (!BlockRange.IsInside(offset, length, SizeBytes))
        {
            return BlockIoStatus.OutOfRange;
        }
        if (ReadOnly)
        {
            return BlockIoStatus.ReadOnly;
        }
        lock (_gate)
        {
            while (length > 0)
            {
                long chunk = offset >> ChunkShift;
                int within = (int)(offset & (ChunkBytes - 1));
                int n = (int)Math.Min(length, ChunkBytes - within);
                if (within == 0 && n == ChunkBytes)
                {
                    _chunks[chunk] = null;
                }
                else
                {
                    _chunks[chunk]?.AsSpan(within, n).Clear();
                }
                offset += n;
                length -= n;
            }
        }
        return BlockIoStatus.Ok;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
