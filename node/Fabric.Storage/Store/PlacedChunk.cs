using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;

namespace Fabric.Storage.Store;

/// <summary>
/// The placed record of one chunk of <see cref="Blocks"/> consecutive head blocks of an object ('P' pg name chunk,
/// <see cref="StoreKeys"/>): for each placed block its crc32c and slot, and which blocks of the chunk may have an
/// inline value.
/// </summary>
/// <remarks>
/// One record per 16 blocks rather than one per block: a 4 MiB write puts 64 records, not 1024 (measured: with a
/// record per block, inserting them and deleting the inline keys under them took about 30 % of all CPU of a 4 MiB
/// write in RocksDB's memtable). The <see cref="MaybeInline"/> mask lets a large rewrite of placed blocks skip the
/// deletes of inline keys that are not there; a chunk without a record says nothing, so a new record starts with
/// every block it does not place marked "may be inline".
/// Encoding (little-endian): placed mask u16, maybe-inline mask u16, then per placed block in index order its crc
/// u32 and slot i64.
/// </remarks>
public sealed class PlacedChunk
{
    public const int Blocks = 16;
    public const int HeaderSize = 4;
    public const int EntrySize = 12;
    public const int MaxSize = HeaderSize + Blocks * EntrySize;

    public ushort Placed { get; private set; }

    public ushort MaybeInline { get; set; }

    private readonly uint[] _crcs = new uint[Blocks];
    private readonly long[] _slots = new long[Blocks];

    public static uint ChunkOf(uint block) => block / Blocks;

    public bool IsPlaced(int i) => (Placed & (1 << i)) != 0;

    public long Slot(int i) => _slots[i];

    public uint Crc(int i) => _crcs[i];

    public int Count => BitOperations.PopCount(Placed);

    public void Place(int i, uint crc, long slot)
    {
        Placed |= (ushort)(1 << i);
        _crcs[i] = crc;
        _slots[i] = slot;
    }

    public void Unplace(int i) => Placed &= (ushort)~(1 << i);

    public int EncodedLength => HeaderSize + Count * EntrySize;

    public int Encode(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Placed);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], MaybeInline);
        int at = HeaderSize;
        for (int i = 0; i < Blocks; i++)
        {
            if (IsPlaced(i))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(destination[at..], _crcs[i]);
                BinaryPrimitives.WriteInt64LittleEndian(destination[(at + 4)..], _slots[i]);
                at += EntrySize;
            }
        }
        Debug.Assert(at == EncodedLength);
        return at;
    }

    /// <summary>Decodes a stored record into <paramref name="chunk"/>; false when it is malformed.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> value, PlacedChunk chunk)
    {
        for (int i = 0; i < Blocks; i++)
        {
            long slot = EntryOf(value, value.Length, i, out uint crc);
            if (slot == -2)
            {
                return false;
            }
            if (slot >= 0)
            {
                chunk.Place(i, crc, slot);
            }
        }
        chunk.MaybeInline = BinaryPrimitives.ReadUInt16LittleEndian(value[2..]);
        return true;
    }

    /// <summary>
    /// Block <paramref name="i"/> of a stored record as read (<paramref name="length"/>: the value's length, -1 when
    /// absent), without decoding the rest: its slot, or -1 when it is not placed, -2 when the record is malformed.
    /// </summary>
    public static long EntryOf(ReadOnlySpan<byte> record, int length, int i, out uint crc)
    {
        crc = 0;
        if (length < 0)
        {
            return -1;
        }
        if (length < HeaderSize || length > MaxSize || length > record.Length)
        {
            return -2;
        }
        int placed = BinaryPrimitives.ReadUInt16LittleEndian(record);
        if (length != HeaderSize + BitOperations.PopCount((uint)placed) * EntrySize)
        {
            return -2;
        }
        if ((placed & (1 << i)) == 0)
        {
            return -1;
        }
        int at = HeaderSize + BitOperations.PopCount((uint)(placed & ((1 << i) - 1))) * EntrySize;
        crc = BinaryPrimitives.ReadUInt32LittleEndian(record[at..]);
        long slot = BinaryPrimitives.ReadInt64LittleEndian(record[(at + 4)..]);
        return slot < 0 ? -2 : slot;
    }
}

/// <summary>
/// The edits one write makes to an object's placed records, gathered per chunk and put once at the end
/// (<see cref="Flush"/>): reads of the store do not see the batch being built, so two edits of one chunk in one
/// batch must meet here, not in the store. Slots it stops using are freed with the batch.
/// </summary>
/// <remarks>With <c>startEmpty</c> the batch has already deleted the object's head (a recovery replacing it): chunks
/// start with nothing placed and nothing inline, whatever the store still holds.</remarks>
internal sealed class PlacedChunkEdits(IObjectStore store, IStoreBatch batch, ulong pg, string name, bool startEmpty = false)
{
    private readonly Dictionary<uint, (PlacedChunk Chunk, bool Existed)> _chunks = new();

    /// <summary>The chunk's record as stored (or a new one: every block may be inline).</summary>
    private (PlacedChunk Chunk, bool Existed) Load(uint chunkIndex)
    {
        if (_chunks.TryGetValue(chunkIndex, out var entry))
        {
            return entry;
        }
        if (startEmpty)
        {
            entry = (new PlacedChunk { MaybeInline = 0 }, false);
            _chunks[chunkIndex] = entry;
            return entry;
        }
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int n = StoreKeys.Placed(key, pg, name, chunkIndex);
        Span<byte> value = stackalloc byte[PlacedChunk.MaxSize];
        int length = store.Read(key[..n], value);
        var chunk = new PlacedChunk { MaybeInline = ushort.MaxValue };
        bool malformed = length >= 0 && (length > value.Length || !PlacedChunk.TryDecode(value[..length], chunk));
        if (malformed)
        {
            // A damaged record: rewritten from the edits; what it claimed is lost to the free map until the next
            // rebuild, and its blocks read as holes or inline from here on (scrub compares copies).
            chunk = new PlacedChunk { MaybeInline = ushort.MaxValue };
        }
        entry = (chunk, length >= 0);
        _chunks[chunkIndex] = entry;
        return entry;
    }

    /// <summary>Block becomes placed at <paramref name="slot"/>. Returns whether it may have had an inline value
    /// (the caller deletes it).</summary>
    public bool SetPlaced(uint block, uint crc, long slot)
    {
        PlacedChunk chunk = Load(PlacedChunk.ChunkOf(block)).Chunk;
        int i = (int)(block % PlacedChunk.Blocks);
        FreeIfPlaced(chunk, i);
        bool maybeInline = (chunk.MaybeInline & (1 << i)) != 0;
        chunk.MaybeInline &= (ushort)~(1 << i);
        chunk.Place(i, crc, slot);
        return maybeInline;
    }

    /// <summary>Block gets an inline value (<paramref name="inline"/>) or becomes a hole: it is no longer placed.</summary>
    public void SetNotPlaced(uint block, bool inline)
    {
        // A chunk without a record gets none from this (Flush skips a new record with nothing placed): there is
        // nothing placed to drop, and a record-less chunk says nothing about inline blocks anyway.
        PlacedChunk chunk = Load(PlacedChunk.ChunkOf(block)).Chunk;
        int i = (int)(block % PlacedChunk.Blocks);
        FreeIfPlaced(chunk, i);
        chunk.Unplace(i);
        chunk.MaybeInline = inline ? (ushort)(chunk.MaybeInline | (1 << i)) : (ushort)(chunk.MaybeInline & ~(1 << i));
    }

    private void FreeIfPlaced(PlacedChunk chunk, int i)
    {
        if (chunk.IsPlaced(i))
        {
            batch.FreeSlots(chunk.Slot(i), 1);
        }
    }

    /// <summary>Puts every edited record (deletes the ones left without a placed block).</summary>
    public void Flush()
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        Span<byte> value = stackalloc byte[PlacedChunk.MaxSize];
        foreach ((uint chunkIndex, (PlacedChunk chunk, bool existed)) in _chunks)
        {
            int n = StoreKeys.Placed(key, pg, name, chunkIndex);
            if (chunk.Placed != 0)
            {
                batch.Put(key[..n], value[..chunk.Encode(value)]);
            }
            else if (existed)
            {
                batch.Delete(key[..n]);
            }
        }
        _chunks.Clear();
    }
}
