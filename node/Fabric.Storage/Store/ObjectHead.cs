using System.Buffers.Binary;

namespace Fabric.Storage.Store;

/// <summary>
/// One clone of an object: the blocks the head overwrote since the snapshots it covers, which are the
/// snapshot ids in (<see cref="From"/>, <see cref="Id"/>]. <see cref="Size"/> is the object's size then.
/// </summary>
public readonly record struct CloneInfo(ulong Id, ulong From, ulong Size);

/// <summary>
/// The head of an object as stored under its 'O' key: version and size, and its snapshot set (the newest
/// snapshot seq it has seen, its clones oldest first, and whether the head itself was deleted while
/// clones remain: a whiteout).
/// </summary>
/// <remarks>
/// Encoding (little-endian): version u64, size u64 — and only when there is a snapshot set or a
/// whiteout: flags u32 (bit 0 whiteout), snap seq u64, clone count u32, then per clone id, from, size
/// (u64 each). An object that never met a snapshot keeps the 16-byte form.
/// </remarks>
public sealed class ObjectHead
{
    public const int BaseSize = 16;
    private const int ExtendedHeader = 16;
    private const int CloneSize = 24;

    /// <summary>Bounds one object's clones (and its metadata): older clones are merged away by snap trim.</summary>
    public const int MaxClones = 1024;

    public ulong Version { get; set; }

    public ulong Size { get; set; }

    public bool Whiteout { get; set; }

    public ulong SnapSeq { get; set; }

    public List<CloneInfo> Clones { get; } = new();

    /// <summary>The head exists (a whiteout reads as absent).</summary>
    public bool Exists => !Whiteout;

    public CloneInfo? Newest => Clones.Count > 0 ? Clones[^1] : null;

    public int EncodedLength => Whiteout || SnapSeq != 0 || Clones.Count > 0 ? BaseSize + ExtendedHeader + Clones.Count * CloneSize : BaseSize;

    public int Encode(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, Version);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Size);
        int length = EncodedLength;
        if (length == BaseSize)
        {
            return length;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], Whiteout ? 1u : 0u);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[20..], SnapSeq);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[28..], (uint)Clones.Count);
        int at = BaseSize + ExtendedHeader;
        foreach (CloneInfo clone in Clones)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], clone.Id);
            BinaryPrimitives.WriteUInt64LittleEndian(destination[(at + 8)..], clone.From);
            BinaryPrimitives.WriteUInt64LittleEndian(destination[(at + 16)..], clone.Size);
            at += CloneSize;
        }
        return length;
    }

    public byte[] ToBytes()
    {
        byte[] bytes = new byte[EncodedLength];
        Encode(bytes);
        return bytes;
    }

    /// <summary>Decodes stored metadata; null when malformed.</summary>
    public static ObjectHead? Decode(ReadOnlySpan<byte> value)
    {
        if (value.Length < BaseSize)
        {
            return null;
        }
        var head = new ObjectHead
        {
            Version = BinaryPrimitives.ReadUInt64LittleEndian(value),
            Size = BinaryPrimitives.ReadUInt64LittleEndian(value[8..]),
        };
        if (value.Length == BaseSize)
        {
            return head;
        }
        if (value.Length < BaseSize + ExtendedHeader)
        {
            return null;
        }
        head.Whiteout = (BinaryPrimitives.ReadUInt32LittleEndian(value[16..]) & 1) != 0;
        head.SnapSeq = BinaryPrimitives.ReadUInt64LittleEndian(value[20..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(value[28..]);
        if (count > MaxClones || value.Length != BaseSize + ExtendedHeader + count * CloneSize)
        {
            return null;
        }
        int at = BaseSize + ExtendedHeader;
        for (int i = 0; i < count; i++)
        {
            head.Clones.Add(new CloneInfo(
                BinaryPrimitives.ReadUInt64LittleEndian(value[at..]),
                BinaryPrimitives.ReadUInt64LittleEndian(value[(at + 8)..]),
                BinaryPrimitives.ReadUInt64LittleEndian(value[(at + 16)..])));
            at += CloneSize;
        }
        return head;
    }

    /// <summary>Index of the clone that holds snapshot <paramref name="snap"/>, or -1 when the object did not exist then.</summary>
    public int CloneFor(ulong snap)
    {
        for (int i = 0; i < Clones.Count; i++)
        {
            if (Clones[i].Id >= snap)
            {
                return snap > Clones[i].From ? i : -1;
            }
        }
        return -1;
    }
}
