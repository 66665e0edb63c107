using Fabric.Client.Objects;
using Fabric.Core.Io;
using Fabric.Proto;

namespace Fabric.Client.Volumes;

/// <summary>
/// A volume opened for I/O on top of the object client (RBD-like): the volume is striped into objects
/// of <c>object_size</c> bytes named <c>v&lt;id&gt;.&lt;index:x16&gt;</c>; a request is split at object
/// boundaries and the pieces run in parallel; unwritten ranges read as zeros (objects that do not exist
/// read as zeros at the OSD); at most <see cref="MaxInFlight"/> object ops are outstanding per volume.
/// </summary>
/// <remarks>
/// Every acknowledged write is durable on every acting replica (the OSDs acknowledge only then), so
/// <see cref="FlushAsync"/> has nothing left to wait for. Requests past the end of the volume fail with
/// <see cref="BlockIoStatus.OutOfRange"/>; the size follows the map (resize).
/// </remarks>
public sealed class VolumeClient : IBlockVolume
{
    public const uint DefaultObjectSize = 4u << 20;

    private readonly ClusterClient _cluster;
    private readonly ObjectClient _objects;
    private readonly SemaphoreSlim _slots;
    private readonly ulong _volumeId;
    private readonly uint _pool;
    private readonly uint _objectSize;

    private VolumeClient(ClusterClient cluster, VolumeInfo volume, bool readOnly, int maxInFlight)
    {
        _cluster = cluster;
        _objects = cluster.Objects;
        _volumeId = volume.Id;
        _pool = volume.PoolId;
        _objectSize = volume.ObjectSizeBytes == 0 ? DefaultObjectSize : volume.ObjectSizeBytes;
        Name = volume.Name;
        ReadOnly = readOnly;
        MaxInFlight = maxInFlight;
        _slots = new SemaphoreSlim(maxInFlight, maxInFlight);
    }

    public string Name { get; }

    public int MaxInFlight { get; }

    public uint ObjectSize => _objectSize;

    public long SizeBytes
    {
        get
        {
            foreach (VolumeInfo volume in _cluster.Map.Volumes)
            {
                if (volume.Id == _volumeId)
                {
                    return (long)volume.SizeBytes;
                }
            }
            return 0; // Deleted.
        }
    }

    public int LogicalBlockSize => 512;

    public bool ReadOnly { get; }

    /// <summary>Opens a volume by name from the client's newest map; null with a reason when it does not exist.</summary>
    public static VolumeClient? Open(ClusterClient cluster, string name, out string? error, bool readOnly = false, int maxInFlight = 64)
    {
        foreach (VolumeInfo volume in cluster.Map.Volumes)
        {
            if (volume.Name == name)
            {
                error = null;
                return new VolumeClient(cluster, volume, readOnly, maxInFlight);
            }
        }
        error = $"volume '{name}' does not exist (fabric volume list shows the volumes)";
        return null;
    }

    public static string ObjectName(ulong volumeId, ulong index) => $"v{volumeId}.{index:x16}";

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        RunAsync(offset, destination.Length, OsdOpKind.OsdOpRead, default, destination, cancellationToken);

    public ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken) =>
        ReadOnly ? ValueTask.FromResult(BlockIoStatus.ReadOnly) : RunAsync(offset, source.Length, OsdOpKind.OsdOpWrite, source, default, cancellationToken);

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken) => ValueTask.FromResult(BlockIoStatus.Ok);

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) => ZeroAsync(offset, length, cancellationToken);

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) => ZeroAsync(offset, length, cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private ValueTask<BlockIoStatus> ZeroAsync(long offset, long length, CancellationToken cancellationToken)
    {
        if (ReadOnly)
        {
            return ValueTask.FromResult(BlockIoStatus.ReadOnly);
        }
        if (length > int.MaxValue)
        {
            return ZeroLargeAsync(offset, length, cancellationToken);
        }
        return RunAsync(offset, (int)length, OsdOpKind.OsdOpZero, default, default, cancellationToken);
    }

    private async ValueTask<BlockIoStatus> ZeroLargeAsync(long offset, long length, CancellationToken cancellationToken)
    {
        const int Chunk = 1 << 30;
        for (long done = 0; done < length; done += Chunk)
        {
            BlockIoStatus status = await RunAsync(offset + done, (int)Math.Min(Chunk, length - done), OsdOpKind.OsdOpZero, default, default, cancellationToken).ConfigureAwait(false);
            if (status != BlockIoStatus.Ok)
            {
                return status;
            }
        }
        return BlockIoStatus.Ok;
    }

    private ValueTask<BlockIoStatus> RunAsync(long offset, int length, OsdOpKind kind, ReadOnlyMemory<byte> source, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (offset < 0 || length < 0 || offset + length > SizeBytes)
        {
            return ValueTask.FromResult(BlockIoStatus.OutOfRange);
        }
        if (length == 0)
        {
            return ValueTask.FromResult(BlockIoStatus.Ok);
        }
        long firstObject = offset / _objectSize;
        long lastObject = (offset + length - 1) / _objectSize;
        if (firstObject == lastObject)
        {
            return RunPieceAsync(firstObject, (ulong)(offset % _objectSize), 0, length, kind, source, destination, cancellationToken);
        }
        return RunSplitAsync(offset, length, kind, source, destination, cancellationToken);
    }

    private async ValueTask<BlockIoStatus> RunSplitAsync(long offset, int length, OsdOpKind kind, ReadOnlyMemory<byte> source, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var pieces = new List<Task<BlockIoStatus>>();
        int done = 0;
        while (done < length)
        {
            long position = offset + done;
            long index = position / _objectSize;
            ulong within = (ulong)(position % _objectSize);
            int take = (int)Math.Min(_objectSize - within, (ulong)(length - done));
            pieces.Add(RunPieceAsync(index, within, done, take, kind, source, destination, cancellationToken).AsTask());
            done += take;
        }
        BlockIoStatus[] results = await Task.WhenAll(pieces).ConfigureAwait(false);
        foreach (BlockIoStatus status in results)
        {
            if (status != BlockIoStatus.Ok)
            {
                return status;
            }
        }
        return BlockIoStatus.Ok;
    }

    private async ValueTask<BlockIoStatus> RunPieceAsync(long index, ulong within, int bufferOffset, int take, OsdOpKind kind, ReadOnlyMemory<byte> source, Memory<byte> destination, CancellationToken cancellationToken)
    {
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return BlockIoStatus.Cancelled;
        }
        try
        {
            var request = new ObjectRequest
            {
                Pool = _pool,
                Object = ObjectName(_volumeId, (ulong)index),
                Kind = kind,
                Offset = within,
                Length = (uint)take,
                Data = kind == OsdOpKind.OsdOpWrite ? source.Slice(bufferOffset, take) : default,
                Destination = kind == OsdOpKind.OsdOpRead ? destination.Slice(bufferOffset, take) : default,
            };
            ObjectResult result = await _objects.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
            return result.Status switch
            {
                ObjectStatus.Ok => BlockIoStatus.Ok,
                ObjectStatus.Fenced => BlockIoStatus.Fenced,
                ObjectStatus.Invalid => BlockIoStatus.Invalid,
                ObjectStatus.Cancelled => BlockIoStatus.Cancelled,
                _ => BlockIoStatus.IoError,
            };
        }
        catch (OperationCanceledException)
        {
            return BlockIoStatus.Cancelled;
        }
        finally
        {
            _slots.Release();
        }
    }
}
