namespace Fabric.Core.Io;

/// <summary>
/// A volume opened for I/O: the seam where the virtio-blk backend (vhost-user-blk, NBD) meets the
/// volume client. Offsets and lengths are in bytes. Implementations are safe for many concurrent
/// requests; a request completes only when its effect is durable to the degree its contract says.
/// </summary>
/// <remarks>
/// Contract kept by every implementation:
/// <list type="bullet">
/// <item>Unwritten ranges read as zeros (thin provisioning).</item>
/// <item><see cref="WriteAsync"/> with <c>fua</c> completes only when the data is durable on every
/// replica. Without it, the replicated volume also completes only then; a volume with a volatile write
/// cache (<c>WriteBackVolume</c>, the node's <c>write_cache</c>) completes once the data is in that cache,
/// and reads see it at once. <see cref="FlushAsync"/> completes when every write that completed before
/// it was issued is durable on every replica.</item>
/// <item>Requests past <see cref="SizeBytes"/> fail with <see cref="BlockIoStatus.OutOfRange"/>;
/// they never throw for bad input.</item>
/// </list>
/// </remarks>
public interface IBlockVolume : IAsyncDisposable
{
    string Name { get; }

    long SizeBytes { get; }

    /// <summary>The logical block size the volume reports to guests (512 or 4096).</summary>
    int LogicalBlockSize { get; }

    bool ReadOnly { get; }

    /// <summary>
    /// Whether a write may complete before it is durable on every replica (the volume has a volatile write cache
    /// that <see cref="FlushAsync"/> writes back). Devices tell guests so: virtio-blk offers <c>F_FLUSH</c> only
    /// for such a volume, so a guest sees a write-through disk as one and sends no flushes it does not need.
    /// True unless the implementation knows better: a guest that flushes too often is only slower.
    /// </summary>
    bool VolatileWriteCache => true;

    ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken);

    ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken);

    ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken);

    /// <summary>Deallocates a range; it reads as zeros afterwards.</summary>
    ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken);

    ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken);
}
