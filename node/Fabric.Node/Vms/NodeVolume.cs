using Fabric.Core.Io;

namespace Fabric.Node.Vms;

/// <summary>
/// One user's handle on a volume opened by <see cref="NodeVolumeProvider"/>: the I/O goes to the shared
/// volume client; <see cref="Holder"/> says who uses it (a VM name, "nbd export") for the volume lock's
/// description; disposing returns the handle (the shared client closes with its last handle).
/// </summary>
/// <remarks>
/// A write-through handle (a disk with cache "writethrough" or "none" on a node with a write cache) sends every
/// write with FUA through the shared write cache: the write completes only once durable on every replica, and the
/// cache stays coherent for the other handles (it writes back the cached blocks the write overlaps first).
/// </remarks>
public sealed class NodeVolume : IBlockVolume
{
    private readonly NodeVolumeProvider _owner;
    private readonly NodeVolumeProvider.Shared _shared;
    private readonly bool _writeThrough;
    private int _disposed;

    internal NodeVolume(NodeVolumeProvider owner, NodeVolumeProvider.Shared shared, string holder, bool writeThrough = false)
    {
        _owner = owner;
        _shared = shared;
        _writeThrough = writeThrough;
        Holder = holder;
    }

    public string Holder { get; }

    /// <summary>Every write of this handle bypasses the shared write cache's write-back (sent with FUA).</summary>
    public bool WritesThrough => _writeThrough;

    public string Name => _shared.Io.Name;

    public long SizeBytes => _shared.Io.SizeBytes;

    public int LogicalBlockSize => _shared.Io.LogicalBlockSize;

    public bool ReadOnly => _shared.Io.ReadOnly;

    /// <summary>False for a write-through handle or a node without a write cache: each write is durable when it completes.</summary>
    public bool VolatileWriteCache => !_writeThrough && _shared.Io.VolatileWriteCache;

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        _shared.Io.ReadAsync(offset, destination, cancellationToken);

    public ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken) =>
        _shared.Io.WriteAsync(offset, source, fua || _writeThrough, cancellationToken);

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken) => _shared.Io.FlushAsync(cancellationToken);

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        _shared.Io.DiscardAsync(offset, length, cancellationToken);

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) =>
        _shared.Io.WriteZeroesAsync(offset, length, cancellationToken);

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _owner.Return(_shared);
        return ValueTask.CompletedTask;
    }
}
