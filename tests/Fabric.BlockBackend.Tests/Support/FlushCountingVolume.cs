using Fabric.Core.Io;

namespace Fabric.BlockBackend.Tests.Support;

/// <summary>Wraps a volume, says whether it has a volatile write cache as told, and counts the flushes it gets.</summary>
public sealed class FlushCountingVolume(IBlockVolume inner, bool volatileWriteCache) : IBlockVolume
{
    private int _flushes;

    public int Flushes => Volatile.Read(ref _flushes);

    public string Name => inner.Name;
    public long SizeBytes => inner.SizeBytes;
    public int LogicalBlockSize => inner.LogicalBlockSize;
    public bool ReadOnly => inner.ReadOnly;
    public bool VolatileWriteCache => volatileWriteCache;

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        inner.ReadAsync(offset, destination, cancellationToken);

    public ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken) =>
        inner.WriteAsync(offset, source, fua, cancellationToken);

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _flushes);
        return inner.FlushAsync(cancellationToken);
    }

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        inner.DiscardAsync(offset, length, cancellationToken);

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) =>
        inner.WriteZeroesAsync(offset, length, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
