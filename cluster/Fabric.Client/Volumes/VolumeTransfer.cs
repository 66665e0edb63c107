using Fabric.Core.Io;

namespace Fabric.Client.Volumes;

/// <summary>Progress of an import or export: bytes done of the total.</summary>
public readonly record struct TransferProgress(long BytesDone, long BytesTotal);

/// <summary>Outcome of an import or export; <see cref="Error"/> says what went wrong and how to fix it.</summary>
public readonly record struct TransferResult(bool Ok, long Bytes, string? Error);

/// <summary>
/// The engines behind `fabric volume import FILE` and `export FILE`: stream a file into a volume (or a
/// volume into a file) in object-sized chunks, several in flight, with progress callbacks. Import writes
/// all-zero chunks as zero ranges, so a sparse image stays thin.
/// </summary>
public static class VolumeTransfer
{
    public static async Task<TransferResult> ImportAsync(IBlockVolume volume, Stream source, IProgress<TransferProgress>? progress, CancellationToken cancellationToken, int chunkBytes = 4 << 20, int parallel = 4)
    {
        long total = source.CanSeek ? source.Length - source.Position : volume.SizeBytes;
        if (source.CanSeek && total > volume.SizeBytes)
        {
            return new TransferResult(false, 0, $"the file ({total} bytes) is larger than volume '{volume.Name}' ({volume.SizeBytes} bytes): resize the volume first");
        }
        var inFlight = new List<Task<BlockIoStatus>>();
        long offset = 0;
        long done = 0;
        while (true)
        {
            byte[] chunk = new byte[chunkBytes];
            int filled = 0;
            while (filled < chunkBytes)
            {
                int read = await source.ReadAsync(chunk.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                filled += read;
            }
            if (filled == 0)
            {
                break;
            }
            if (offset + filled > volume.SizeBytes)
            {
                return new TransferResult(false, done, $"the input is larger than volume '{volume.Name}' ({volume.SizeBytes} bytes): resize the volume first");
            }
            bool zero = chunk.AsSpan(0, filled).IndexOfAnyExcept((byte)0) < 0;
            Task<BlockIoStatus> write = zero
                ? volume.WriteZeroesAsync(offset, filled, cancellationToken).AsTask()
                : volume.WriteAsync(offset, chunk.AsMemory(0, filled), fua: false, cancellationToken).AsTask();
            inFlight.Add(write);
            offset += filled;
            if (inFlight.Count >= parallel)
            {
                Task<BlockIoStatus> first = inFlight[0];
                inFlight.RemoveAt(0);
                BlockIoStatus status = await first.ConfigureAwait(false);
                if (status != BlockIoStatus.Ok)
                {
                    return new TransferResult(false, done, $"write to volume '{volume.Name}' failed: {status}");
                }
                done += chunkBytes;
                progress?.Report(new TransferProgress(Math.Min(done, offset), total));
            }
            if (filled < chunkBytes)
            {
                break;
            }
        }
        foreach (Task<BlockIoStatus> write in inFlight)
        {
            BlockIoStatus status = await write.ConfigureAwait(false);
            if (status != BlockIoStatus.Ok)
            {
                return new TransferResult(false, done, $"write to volume '{volume.Name}' failed: {status}");
            }
        }
        BlockIoStatus flushed = await volume.FlushAsync(cancellationToken).ConfigureAwait(false);
        progress?.Report(new TransferProgress(offset, total));
        return flushed == BlockIoStatus.Ok ? new TransferResult(true, offset, null) : new TransferResult(false, offset, $"flush failed: {flushed}");
    }

    public static async Task<TransferResult> ExportAsync(IBlockVolume volume, Stream destination, IProgress<TransferProgress>? progress, CancellationToken cancellationToken, int chunkBytes = 4 << 20, int parallel = 4)
    {
        long total = volume.SizeBytes;
        var inFlight = new Queue<(Task<BlockIoStatus> Read, byte[] Buffer, int Length)>();
        long next = 0;
        long written = 0;
        while (next < total || inFlight.Count > 0)
        {
            while (next < total && inFlight.Count < parallel)
            {
                int length = (int)Math.Min(chunkBytes, total - next);
                byte[] buffer = new byte[length];
                inFlight.Enqueue((volume.ReadAsync(next, buffer, cancellationToken).AsTask(), buffer, length));
                next += length;
            }
            var (read, data, count) = inFlight.Dequeue();
            BlockIoStatus status = await read.ConfigureAwait(false);
            if (status != BlockIoStatus.Ok)
            {
                return new TransferResult(false, written, $"read from volume '{volume.Name}' failed: {status}");
            }
            await destination.WriteAsync(data.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
            written += count;
            progress?.Report(new TransferProgress(written, total));
        }
        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        return new TransferResult(true, written, null);
    }
}
