using Fabric.Core.Io;

namespace Fabric.Node.Vms;

/// <summary>A view of a volume that something else owns: disposing the view leaves the volume open (NBD
/// connections come and go; the export keeps its cached volume for as long as it exists).</summary>
public sealed class SharedVolumeView(IBlockVolume inner) : IBlockVolume
{
    public string Name => inner.Name;
    public long SizeBytes => inner.SizeBytes;
    public int LogicalBlockSize => inner.LogicalBlockSize;
    public bool ReadOnly => inner.ReadOnly;

    public bool VolatileWriteCache => inner.VolatileWriteCache;

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        inner.ReadAsync(offset, destination, cancellationToken);

    public ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken) =>
        inner.WriteAsync(offset, source, fua, cancellationToken);

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        inner.DiscardAsync(offset, length, cancellationToken);

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) =>
        inner.WriteZeroesAsync(offset, length, cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
