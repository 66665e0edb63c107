using System.Diagnostics;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// One virtio-blk request taken from a virtqueue: its descriptor chain translated into host segments
/// (readable ones first, then writable ones, as the virtio spec requires) and the memory map it points into.
/// Only this type touches guest buffers, and only through the checked segments.
/// </summary>
internal sealed unsafe class BlkRequest
{
    public const int MaxSegments = 1024 + 8;

    public struct Segment
    {
        public nint Host;
        public ulong Gpa;
        public uint Length;
        public bool Writable;
    }

    private Segment[] _segments = new Segment[8];

    public ushort Head;
    public GuestMemoryMap Memory = GuestMemoryMap.Empty;
    public VhostUserBlkSession? Session;
    public int Count;
    public ulong ReadableBytes;
    public ulong WritableBytes;

    public ReadOnlySpan<Segment> Segments => _segments.AsSpan(0, Count);

    public void Reset(ushort head, GuestMemoryMap memory, VhostUserBlkSession? session)
    {
        Head = head;
        Memory = memory;
        Session = session;
        Count = 0;
        ReadableBytes = 0;
        WritableBytes = 0;
    }

    /// <summary>Adds a translated piece of a descriptor; false when the chain has too many pieces.</summary>
    public bool Add(nint host, ulong gpa, uint length, bool writable)
    {
        if (length == 0)
        {
            return true;
        }
        if (Count == _segments.Length)
        {
            if (Count >= MaxSegments)
            {
                return false;
            }
            Array.Resize(ref _segments, Math.Min(MaxSegments, Count * 2));
        }
        _segments[Count++] = new Segment { Host = host, Gpa = gpa, Length = length, Writable = writable };
        if (writable)
        {
            WritableBytes += length;
        }
        else
        {
            ReadableBytes += length;
        }
        return true;
    }

    /// <summary>Copies readable bytes [skip, skip + destination.Length) out of guest memory.</summary>
    public void GatherReadable(ulong skip, Span<byte> destination)
    {
        Debug.Assert(skip + (ulong)destination.Length <= ReadableBytes);
        foreach (ref readonly var s in Segments)
        {
            if (destination.IsEmpty || s.Writable)
            {
                break;
            }
            if (skip >= s.Length)
            {
                skip -= s.Length;
                continue;
            }
            int n = (int)Math.Min((ulong)destination.Length, s.Length - skip);
            // SAFETY: the segment [Host, Host + Length) was translated inside a mapped region of Memory, which
            // this request holds a reference on; skip < Length and n <= Length - skip.
            new ReadOnlySpan<byte>((void*)(s.Host + (nint)skip), n).CopyTo(destination);
            destination = destination[n..];
            skip = 0;
        }
    }

    /// <summary>Copies into the writable bytes from the start, leaving the final status byte alone.</summary>
    public void ScatterWritable(ReadOnlySpan<byte> source)
    {
        Debug.Assert((ulong)source.Length < WritableBytes);
        foreach (ref readonly var s in Segments)
        {
            if (source.IsEmpty)
            {
                break;
            }
            if (!s.Writable)
            {
                continue;
            }
            int n = (int)Math.Min((ulong)source.Length, s.Length);
            // SAFETY: as in GatherReadable; n <= Length.
            source[..n].CopyTo(new Span<byte>((void*)s.Host, n));
            Session?.MarkDirty(s.Gpa, (ulong)n);
            source = source[n..];
        }
    }

    /// <summary>Writes the status byte: the last writable byte of the chain.</summary>
    public void WriteStatus(byte status)
    {
        Debug.Assert(WritableBytes > 0);
        for (int i = Count - 1; i >= 0; i--)
        {
            ref readonly var s = ref _segments[i];
            if (s.Writable)
            {
                // SAFETY: Length > 0 (empty segments are never added), so Host + Length - 1 is inside the segment.
                *(byte*)(s.Host + (nint)s.Length - 1) = status;
                Session?.MarkDirty(s.Gpa + s.Length - 1, 1);
                return;
            }
        }
    }
}
