using System.Buffers;
using System.Diagnostics;

namespace Fabric.Client.Messaging;

/// <summary>
/// A pooled, reference-counted byte buffer carrying a message's raw data (block payloads), so data is
/// copied once from the socket and handed on without further copies or allocations per block.
/// </summary>
/// <remarks>Created with one reference; whoever keeps it beyond the call that received it takes a
/// reference with <see cref="AddRef"/> and calls <see cref="Release"/> when done. A sender that queues
/// it (<see cref="FramedConnection.Send(Fabric.Proto.StorageMessageType, Google.Protobuf.IMessage, DataBuffer)"/>)
/// takes its own reference until the bytes are on the wire.</remarks>
public sealed class DataBuffer
{
    private byte[]? _array;
    private int _offset;
    private int _refs;

    private DataBuffer(byte[] array, int length)
    {
        _array = array;
        Length = length;
        _refs = 1;
    }

    public static DataBuffer Empty { get; } = new(Array.Empty<byte>(), 0);

    public int Length { get; private set; }

    public Span<byte> Span => _array is null ? throw new ObjectDisposedException(nameof(DataBuffer)) : _array.AsSpan(_offset, Length);

    public Memory<byte> Memory => _array is null ? throw new ObjectDisposedException(nameof(DataBuffer)) : _array.AsMemory(_offset, Length);

    /// <summary>The bytes as an array segment (for gathered socket sends).</summary>
    public ArraySegment<byte> Segment => _array is null ? throw new ObjectDisposedException(nameof(DataBuffer)) : new ArraySegment<byte>(_array, _offset, Length);

    public static DataBuffer Rent(int length) => length == 0 ? Empty : new DataBuffer(ArrayPool<byte>.Shared.Rent(length), length);

    public static DataBuffer CopyOf(ReadOnlySpan<byte> data)
    {
        DataBuffer buffer = Rent(data.Length);
        if (data.Length > 0)
        {
            data.CopyTo(buffer.Span);
        }
        return buffer;
    }

    /// <summary>
    /// Drops the first <paramref name="count"/> bytes (a received frame becomes its data without a copy).
    /// Only its sole owner may do this, before handing it on.
    /// </summary>
    public void TrimStart(int count)
    {
        Debug.Assert(Volatile.Read(ref _refs) == 1, "trimmed while shared");
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)Length, nameof(count));
        if (Length == 0)
        {
            return;
        }
        _offset += count;
        Length -= count;
    }

    public DataBuffer AddRef()
    {
        if (_array is { Length: > 0 })
        {
            Interlocked.Increment(ref _refs);
        }
        return this;
    }

    public void Release()
    {
        if (ReferenceEquals(this, Empty))
        {
            return;
        }
        int left = Interlocked.Decrement(ref _refs);
        if (left == 0)
        {
            byte[]? array = Interlocked.Exchange(ref _array, null);
            if (array is { Length: > 0 })
            {
                ArrayPool<byte>.Shared.Return(array);
            }
        }
    }
}
