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
        if (value.Length < HeaderSize)
        {
            return false;
        }
        ushort placed = BinaryPrimitives.ReadUInt16LittleEndian(value);
        if (value.Length != HeaderSize + BitOperations.PopCount(placed) * EntrySize)
        {
            return false;
        }
        chunk.Placed = placed;
        chunk.MaybeInline = BinaryPrimitives.ReadUInt16LittleEndian(value[2..]);
        int at = HeaderSize;
        for (int i = 0; i < Blocks; i++)
        {
            if ((placed & (1 << i)) != 0)
            {
                chunk._crcs[i] = BinaryPrimitives.ReadUInt32LittleEndian(value[at..]);
                chunk._slots[i] = BinaryPrimitives.ReadInt64LittleEndian(value[(at + 4)..]);
                if (chunk._slots[i] < 0)
                {
                    return false;
                }
                at += EntrySize;
            }
        }
        return true;
    }

    /// <summary>Calls <paramref name="visit"/>(block offset in the chunk, crc, slot) for each placed block of a stored
    /// record; false when it is malformed.</summary>
    public static bool ForEachPlaced(ReadOnlySpan<byte> value, Action<int, uint, long> visit)
    {
        var chunk = new PlacedChunk();
        if (!TryDecode(value, chunk))
        {
            return false;
        }
        for (int i = 0; i < Blocks; i++)
        {
            if (chunk.IsPlaced(i))
            {
                visit(i, chunk._crcs[i], chunk._slots[i]);
            }
        }
        return true;
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
    private readonly Dictionary<uint, (PlacedChunk Chunk, bool Existed, bool Malformed)> _chunks = new();

    /// <summary>The chunk's record as stored (or a new one: every block may be inline).</summary>
    private (PlacedChunk Chunk, bool Existed, bool Malformed) Load(uint chunkIndex)
    {
        if (_chunks.TryGetValue(chunkIndex, out var entry))
        {
            return entry;
        }
        if (startEmpty)
        {
            entry = (new PlacedChunk { MaybeInline = 0 }, false, false);
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
        entry = (chunk, length >= 0, malformed);
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
        foreach ((uint chunkIndex, (PlacedChunk chunk, bool existed, _)) in _chunks)
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
