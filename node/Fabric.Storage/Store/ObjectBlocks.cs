using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using Fabric.Core.Checksums;

namespace Fabric.Storage.Store;

/// <summary>Metadata of one stored object: the version of its last change and its size in bytes
/// (<see cref="ObjectHead"/> has the rest: snapshot set, whiteout).</summary>
public readonly record struct ObjectMeta(ulong Version, ulong Size);

/// <summary>Outcome of reading stored blocks.</summary>
public enum BlockReadStatus
{
    Ok,
    /// <summary>A block's stored crc32c did not match its data: the copy is bad.</summary>
    ChecksumMismatch,
}

/// <summary>
/// Objects as 4 KiB blocks with a crc32c each (<see cref="StoreKeys"/>). Every read checks every
/// block it touches; a partial-block write reads, checks, merges and re-checksums the block. Absent
/// blocks are zeros (thin objects).
/// </summary>
public static class ObjectBlocks
{
    public const int BlockSize = 4096;
    public const int BlockValueSize = BlockSize + 4;
    private const int MetaSize = 16;

    /// <summary>Version and size of an object's head (also of a whiteout: see <see cref="ObjectFamily.ReadHead"/>).</summary>
    public static ObjectMeta? ReadMeta(IObjectStore store, ulong pg, string name)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        Span<byte> value = stackalloc byte[MetaSize];
        // A longer value (snapshot set) is not copied, but its length says it is there: read the first 16 bytes.
        int length = store.Read(key[..n], value);
        if (length < MetaSize)
        {
            return null;
        }
        if (length > MetaSize)
        {
            byte[]? all = store.Get(key[..n]);
            if (all is null || all.Length < MetaSize)
            {
                return null;
            }
            value = all;
        }
        return new ObjectMeta(BinaryPrimitives.ReadUInt64LittleEndian(value), BinaryPrimitives.ReadUInt64LittleEndian(value[8..]));
    }

    public static void WriteMeta(IStoreBatch batch, ulong pg, string name, ObjectMeta meta)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        Span<byte> value = stackalloc byte[MetaSize];
        BinaryPrimitives.WriteUInt64LittleEndian(value, meta.Version);
        BinaryPrimitives.WriteUInt64LittleEndian(value[8..], meta.Size);
        batch.Put(key[..n], value);
    }

    /// <summary>Blocks looked up in one batched read of the store (bounds the scratch buffer: 128 × 4 KiB).</summary>
    private const int ReadBatchBlocks = 128;

    /// <summary>Reads [offset, offset + destination.Length) of an object; holes read as zeros. A range of
    /// several blocks is looked up in batches (one pass through the store per batch, not one per block).</summary>
    public static BlockReadStatus Read(IObjectStore store, ulong pg, string name, ulong offset, Span<byte> destination)
    {
        if (destination.IsEmpty)
        {
            return BlockReadStatus.Ok;
        }
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int prefix = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        uint firstBlock = (uint)(offset / BlockSize);
        uint lastBlock = (uint)((offset + (ulong)destination.Length - 1) / BlockSize);
        int count = (int)Math.Min(lastBlock - firstBlock + 1, ReadBatchBlocks);
        int keyBytes = prefix + 4;
        byte[] keys = ArrayPool<byte>.Shared.Rent(count * keyBytes);
        byte[] values = ArrayPool<byte>.Shared.Rent(count * BlockValueSize);
        int[] keyLengths = ArrayPool<int>.Shared.Rent(count);
        int[] lengths = ArrayPool<int>.Shared.Rent(count);
        try
        {
            int done = 0;
            while (done < destination.Length)
            {
                // One batch: the blocks from the current position on, at most ReadBatchBlocks of them.
                uint batchFirst = (uint)((offset + (ulong)done) / BlockSize);
                int batch = (int)Math.Min(lastBlock - batchFirst + 1, (uint)count);
                for (int i = 0; i < batch; i++)
                {
                    Span<byte> k = keys.AsSpan(i * keyBytes, keyBytes);
                    key[..prefix].CopyTo(k);
                    BinaryPrimitives.WriteUInt32BigEndian(k[prefix..], batchFirst + (uint)i);
                    keyLengths[i] = keyBytes;
                }
                if (batch == 1)
                {
                    lengths[0] = store.ReadChecksummed(keys.AsSpan(0, keyBytes), values.AsSpan(0, BlockValueSize));
                }
                else
                {
                    store.ReadChecksummed(keys.AsSpan(0, batch * keyBytes), keyLengths.AsSpan(0, batch), values, BlockValueSize, lengths.AsSpan(0, batch));
                }
                for (int i = 0; i < batch; i++)
                {
                    ulong position = offset + (ulong)done;
                    Debug.Assert(position / BlockSize == batchFirst + (uint)i, "the batch covers consecutive blocks from the current position");
                    int within = (int)(position % BlockSize);
                    int take = Math.Min(BlockSize - within, destination.Length - done);
                    ReadOnlySpan<byte> block = values.AsSpan(i * BlockValueSize, BlockValueSize);
                    if (lengths[i] < 0)
                    {
                        destination.Slice(done, take).Clear();
                    }
                    else
                    {
                        if (lengths[i] != BlockValueSize || !Verify(block))
                        {
                            return BlockReadStatus.ChecksumMismatch;
                        }
                        block.Slice(4 + within, take).CopyTo(destination[done..]);
                    }
                    done += take;
                }
            }
            return BlockReadStatus.Ok;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(keys);
            ArrayPool<byte>.Shared.Return(values);
            ArrayPool<int>.Shared.Return(keyLengths);
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>
    /// Adds a write of <paramref name="data"/> at <paramref name="offset"/> to the batch (null data =
    /// zeros, deallocating whole blocks). Returns false when a partial block it had to merge failed its
    /// checksum: the merged block is then written with zeros in place of the bad bytes and the caller
    /// must mark the object missing so that it is recovered from a good copy. With
    /// <paramref name="cowClone"/> set, every block is first preserved in that clone (copy-on-write).
    /// </summary>
    public static bool AddWrite(IObjectStore store, IStoreBatch batch, ulong pg, string name, ulong offset, int length, ReadOnlySpan<byte> data, bool zero, ulong cowClone = 0)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int prefix = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        byte[] block = ArrayPool<byte>.Shared.Rent(BlockValueSize);
        bool clean = true;
        try
        {
            int done = 0;
            while (done < length)
            {
                ulong position = offset + (ulong)done;
                uint index = (uint)(position / BlockSize);
                int within = (int)(position % BlockSize);
                int take = Math.Min(BlockSize - within, length - done);
                int n = BlockKey(key, prefix, index);
                if (cowClone != 0)
                {
                    ObjectFamily.Preserve(store, batch, pg, name, cowClone, index, block);
                }
                if (take == BlockSize)
                {
                    if (zero)
                    {
                        batch.Delete(key[..n]);
                    }
                    else
                    {
                        PutSealed(batch, key[..n], data.Slice(done, BlockSize));
                    }
                }
                else
                {
                    int existing = store.ReadChecksummed(key[..n], block);
                    if (existing < 0)
                    {
                        block.AsSpan(0, BlockValueSize).Clear();
                    }
                    else if (existing != BlockValueSize || !Verify(block))
                    {
                        clean = false;
                        block.AsSpan(0, BlockValueSize).Clear();
                    }
                    Span<byte> payload = block.AsSpan(4, BlockSize);
                    if (zero)
                    {
                        payload.Slice(within, take).Clear();
                    }
                    else
                    {
                        data.Slice(done, take).CopyTo(payload[within..]);
                    }
                    if (zero && existing < 0)
                    {
                        // Zeroing part of a hole leaves a hole.
                    }
                    else
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(block, Crc32C.Compute(payload));
                        batch.Put(key[..n], block.AsSpan(0, BlockValueSize));
                    }
                }
                done += take;
            }
            return clean;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>Deletes an object's metadata and every block, its clones' included (the whole family).</summary>
    public static void AddDelete(IStoreBatch batch, ulong pg, string name)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        batch.Delete(key[..n]);
        n = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        batch.DeleteRange(key[..n], StoreKeys.PrefixEnd(key[..n]));
        n = StoreKeys.Named(key, StoreKeys.CloneDataKind, pg, name);
        batch.DeleteRange(key[..n], StoreKeys.PrefixEnd(key[..n]));
    }

    /// <summary>
    /// Reads every present block of an object (for recovery pushes): block indexes and their data
    /// concatenated. Returns false when a block fails its checksum.
    /// </summary>
    public static bool ReadAll(IObjectStore store, ulong pg, string name, List<uint> blocks, ArrayBufferWriter<byte> data)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        bool ok = true;
        store.Scan(key[..n], (k, v) =>
        {
            if (v.Length != BlockValueSize || BinaryPrimitives.ReadUInt32LittleEndian(v) != Crc32C.Compute(v.Slice(4, BlockSize)))
            {
                ok = false;
                return false;
            }
            blocks.Add(StoreKeys.BlockOf(k));
            data.Write(v.Slice(4, BlockSize));
            return true;
        });
        return ok;
    }

    /// <summary>Replaces an object with the given blocks (recovery apply).</summary>
    public static void AddReplace(IStoreBatch batch, ulong pg, string name, ObjectMeta meta, IReadOnlyList<uint> blocks, ReadOnlySpan<byte> data)
    {
        AddDelete(batch, pg, name);
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int prefix = StoreKeys.Named(key, StoreKeys.DataKind, pg, name);
        byte[] block = ArrayPool<byte>.Shared.Rent(BlockValueSize);
        try
        {
            for (int i = 0; i < blocks.Count; i++)
            {
                int n = BlockKey(key, prefix, blocks[i]);
                PutSealed(batch, key[..n], data.Slice(i * BlockSize, BlockSize));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
        WriteMeta(batch, pg, name, meta);
    }

    /// <summary>Completes a block key after its name prefix (<see cref="StoreKeys.Named"/> encoded once per request).</summary>
    private static int BlockKey(Span<byte> key, int prefix, uint index)
    {
        BinaryPrimitives.WriteUInt32BigEndian(key[prefix..], index);
        return prefix + 4;
    }

    /// <summary>Puts one whole block: its crc32c, then the payload (one copy, into the batch).</summary>
    internal static void PutSealed(IStoreBatch batch, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
    {
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(crc, Crc32C.Compute(payload));
        batch.Put(key, crc, payload);
    }

    internal static void Seal(byte[] block, ReadOnlySpan<byte> payload)
    {
        payload.CopyTo(block.AsSpan(4));
        BinaryPrimitives.WriteUInt32LittleEndian(block, Crc32C.Compute(payload));
    }

    internal static bool Verify(ReadOnlySpan<byte> block) =>
        BinaryPrimitives.ReadUInt32LittleEndian(block) == Crc32C.Compute(block.Slice(4, BlockSize));
}
