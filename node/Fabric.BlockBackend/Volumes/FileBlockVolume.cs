using Fabric.BlockBackend.Native;
using Fabric.Core.Io;
using Microsoft.Win32.SafeHandles;

namespace Fabric.BlockBackend.Volumes;

/// <summary>
/// A volume that is one raw local file: pread/pwrite for data, fdatasync (group-committed on a dedicated
/// thread) for FLUSH and FUA, fallocate for DISCARD/WRITE_ZEROES. It is the fast local reference the
/// benchmarks compare against and what the tests serve; it is not replicated.
/// </summary>
/// <remarks>
/// Durability contract (a local disk's, weaker than the replicated volume's): a write without FUA is in the
/// page cache when it completes; <see cref="FlushAsync"/> completes when every write that completed
/// before it was issued is on stable storage; a FUA write is on stable storage when it completes.
/// Reads and writes run inline (page-cache speed); only syncs leave the calling thread.
/// </remarks>
public sealed class FileBlockVolume : IBlockVolume
{
    private static readonly byte[] Zeros = new byte[1 << 20];

    private readonly SafeFileHandle _handle;
    private readonly FileSyncer _syncer;
    private int _disposed;

    private FileBlockVolume(string name, string path, SafeFileHandle handle, long sizeBytes, bool readOnly, int logicalBlockSize)
    {
        Name = name;
        Path = path;
        _handle = handle;
        SizeBytes = sizeBytes;
        ReadOnly = readOnly;
        LogicalBlockSize = logicalBlockSize;
        _syncer = new FileSyncer(handle, name);
    }

    public string Name { get; }

    public string Path { get; }

    public long SizeBytes { get; }

    public int LogicalBlockSize { get; }

    public bool ReadOnly { get; }

    /// <summary>Creates (or truncates) a sparse file of <paramref name="sizeBytes"/> and opens it.</summary>
    public static FileBlockVolume Create(string path, long sizeBytes, string? name = null, int logicalBlockSize = 512)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeBytes);
        var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite);
        RandomAccess.SetLength(handle, sizeBytes);
        return new FileBlockVolume(name ?? System.IO.Path.GetFileNameWithoutExtension(path), path, handle, sizeBytes, false, logicalBlockSize);
    }

    /// <summary>Opens an existing file; its length is the volume size.</summary>
    public static FileBlockVolume Open(string path, string? name = null, bool readOnly = false, int logicalBlockSize = 512)
    {
        var handle = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite);
        long size = RandomAccess.GetLength(handle);
        return new FileBlockVolume(name ?? System.IO.Path.GetFileNameWithoutExtension(path), path, handle, size, readOnly, logicalBlockSize);
    }

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (!BlockRange.IsInside(offset, destination.Length, SizeBytes))
        {
            return new(BlockIoStatus.OutOfRange);
        }
        if (_disposed != 0)
        {
            return new(BlockIoStatus.Cancelled);
        }
        try
        {
            var span = destination.Span;
            int done = 0;
            while (done < span.Length)
            {
                int n = RandomAccess.Read(_handle, span[done..], offset + done);
                if (n <= 0)
                {
                    // Past the file's end (it was shortened behind our back): thin-provisioned zeros.
                    span[done..].Clear();
                    break;
                }
                done += n;
            }
            return new(BlockIoStatus.Ok);
        }
        catch (IOException)
        {
            return new(BlockIoStatus.IoError);
        }
        catch (ObjectDisposedException)
        {
            return new(BlockIoStatus.Cancelled);
        }
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
        if (_disposed != 0)
        {
            return new(BlockIoStatus.Cancelled);
        }
        try
        {
            RandomAccess.Write(_handle, source.Span, offset);
        }
        catch (IOException)
        {
            return new(BlockIoStatus.IoError);
        }
        catch (ObjectDisposedException)
        {
            return new(BlockIoStatus.Cancelled);
        }
        return fua ? new(_syncer.SyncAsync()) : new(BlockIoStatus.Ok);
    }

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken)
    {
        if (_disposed != 0)
        {
            return new(BlockIoStatus.Cancelled);
        }
        return ReadOnly ? new(BlockIoStatus.Ok) : new(_syncer.SyncAsync());
    }

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        new(ZeroRange(offset, length, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE));

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) =>
        new(ZeroRange(offset, length, Libc.FALLOC_FL_ZERO_RANGE | Libc.FALLOC_FL_KEEP_SIZE));

    private BlockIoStatus ZeroRange(long offset, long length, int fallocMode)
    {
        if (!BlockRange.IsInside(offset, length, SizeBytes))
        {
            return BlockIoStatus.OutOfRange;
        }
        if (ReadOnly)
        {
            return BlockIoStatus.ReadOnly;
        }
        if (_disposed != 0)
        {
            return BlockIoStatus.Cancelled;
        }
        if (length == 0)
        {
            return BlockIoStatus.Ok;
        }
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            if (Libc.Fallocate(_handle.DangerousGetHandle(), fallocMode, offset, length) == 0)
            {
                return BlockIoStatus.Ok;
            }
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
        // The file system cannot punch or zero ranges: write the zeros.
        try
        {
            for (long done = 0; done < length;)
            {
                int n = (int)Math.Min(Zeros.Length, length - done);
                RandomAccess.Write(_handle, Zeros.AsSpan(0, n), offset + done);
                done += n;
            }
            return BlockIoStatus.Ok;
        }
        catch (IOException)
        {
            return BlockIoStatus.IoError;
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _syncer.Dispose();
            _handle.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
