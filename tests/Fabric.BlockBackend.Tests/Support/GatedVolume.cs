using Fabric.Core.Io;

namespace Fabric.BlockBackend.Tests.Support;

/// <summary>Wraps a volume; while closed, writes wait (honouring cancellation) — a storage cluster that stalls.</summary>
public sealed class GatedVolume(IBlockVolume inner) : IBlockVolume
{
    private volatile TaskCompletionSource _gate = Open();
    private int _waiting;

    private static TaskCompletionSource Open()
    {
        var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        t.SetResult();
        return t;
    }

    public int WaitingWrites => Volatile.Read(ref _waiting);

    public void Close() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _gate.TrySetResult();

    public string Name => inner.Name;
    public long SizeBytes => inner.SizeBytes;
    public int LogicalBlockSize => inner.LogicalBlockSize;
    public bool ReadOnly => inner.ReadOnly;

    public bool VolatileWriteCache => inner.VolatileWriteCache;

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        inner.ReadAsync(offset, destination, cancellationToken);

    public async ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            await _gate.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return BlockIoStatus.Cancelled;
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        return await inner.WriteAsync(offset, source, fua, cancellationToken);
    }

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        inner.DiscardAsync(offset, length, cancellationToken);

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) =>
        inner.WriteZeroesAsync(offset, length, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
