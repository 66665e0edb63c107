using System.Buffers;

namespace Fabric.Client.Messaging;

/// <summary>
/// A pooled, reference-counted byte buffer carrying a message's raw data (block payloads), so data is
/// copied once from the socket and handed on without further copies or allocations per block.
/// </summary>
/// <remarks>Created with one reference; whoever keeps it beyond the call that received it takes a
/// reference with <see cref="AddRef"/> and calls <see cref="Release"/> when done.</remarks>
public sealed class DataBuffer
{
    private byte[]? _array;
    private int _refs;

    private DataBuffer(byte[] array, int length)
    {
        _array = array;
        Length = length;
        _refs = 1;
    }

    public static DataBuffer Empty { get; } = new(Array.Empty<byte>(), 0);

    public int Length { get; }

    public Span<byte> Span => _array is null ? throw new ObjectDisposedException(nameof(DataBuffer)) : _array.AsSpan(0, Length);

    public Memory<byte> Memory => _array is null ? throw new ObjectDisposedException(nameof(DataBuffer)) : _array.AsMemory(0, Length);

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

    public DataBuffer AddRef()
    {
        if (Length > 0)
        {
            Interlocked.Increment(ref _refs);
        }
        return this;
    }

    public void Release()
    {
        if (Length == 0)
        {
            return;
        }
        int left = Interlocked.Decrement(ref _refs);
        if (left == 0)
        {
            byte[]? array = Interlocked.Exchange(ref _array, null);
            if (array is not null)
            {
                ArrayPool<byte>.Shared.Return(array);
            }
        }
    }
}
