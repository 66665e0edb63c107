using System.Buffers;
using System.Buffers.Binary;
using Fabric.Core.Checksums;
using Fabric.Proto;

namespace Fabric.Storage.Store;

/// <summary>
/// Snapshots of one object: its head and its clones, copy-on-write per 4 KiB block.
/// </summary>
/// <remarks>
/// <para>The contract. A clone <c>c</c> keeps the object as it was at the snapshots in
/// (<c>c.From</c>, <c>c.Id</c>]. It stores only blocks the head changed since: reading block <c>b</c> of
/// clone <c>c</c> takes the first of <c>c</c>, the newer clones, then the head that has <c>b</c> ('K'
/// value: data, or empty = it was a hole; absent = look further). This holds because every change to a
/// head block first preserves the old block (or a hole marker) in the newest clone when that clone has
/// no entry for it (<see cref="Preserve"/>), and because clones are only ever appended at the new end.</para>
/// <para>A write with a snapshot context (seq, live snaps) starts a clone with id = seq when the head
/// exists and some live snapshot lies in (head.SnapSeq, seq]; the head's SnapSeq then becomes seq. An
/// object created after a snapshot gets no clone, so reading that snapshot finds no clone covering it:
/// the object did not exist then (<see cref="ObjectHead.CloneFor"/>). Deleting a head that has clones
/// leaves a whiteout: the head reads as absent, its metadata keeps the clones.</para>
/// <para>Trimming a clone no live snapshot needs moves the blocks the next older clone lacks into it, so
/// the older clone still reads the same, then drops the clone. Every operation is a pure function of
/// the stored family and the log entry, so the primary and its replicas stay identical.</para>
/// </remarks>
public static class ObjectFamily
{
    private const int HeadTag = 0;

    public static ObjectHead? ReadHead(IObjectStore store, ulong pg, string name)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        Span<byte> value = stackalloc byte[512];
        int length = store.Read(key[..n], value);
        if (length < 0)
        {
            return null;
        }
        if (length > value.Length)
        {
            byte[]? all = store.Get(key[..n]);
            return all is null ? null : ObjectHead.Decode(all);
        }
        return ObjectHead.Decode(value[..length]);
    }

    /// <summary>The stored metadata bytes of the head (null when absent).</summary>
    public static byte[]? ReadHeadBytes(IObjectStore store, ulong pg, string name)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        return store.Get(key[..n]);
    }

    public static void WriteHead(IStoreBatch batch, ulong pg, string name, ObjectHead head)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        int length = head.EncodedLength;
        if (length <= 256)
        {
            Span<byte> value = stackalloc byte[length];
            head.Encode(value);
            batch.Put(key[..n], value);
        }
        else
        {
            batch.Put(key[..n], head.ToBytes());
        }
    }

    /// <summary>
    /// The clone a modification of the head must start under the snapshot context (seq, live snaps):
    /// its id, or 0 when none is needed (no head to preserve, or no live snapshot newer than the head's).
    /// </summary>
    public static ulong CloneNeeded(ObjectHead? head, ulong seq, IReadOnlyList<ulong> snaps)
    {
        if (head is null || !head.Exists || seq <= head.SnapSeq || head.Clones.Count >= ObjectHead.MaxClones)
        {
            return 0;
        }
        foreach (ulong snap in snaps)
        {
            if (snap > head.SnapSeq && snap <= seq)
            {
                return seq;
            }
        }
        return 0;
    }

    /// <summary>The snapshot part of a log entry, applied to the head in memory before its data change.</summary>
    public static void BeginModification(ObjectHead head, ulong snapSeq, ulong cloneId)
    {
        if (cloneId != 0 && (head.Clones.Count == 0 || head.Clones[^1].Id < cloneId))
        {
            head.Clones.Add(new CloneInfo(cloneId, head.SnapSeq, head.Whiteout ? 0 : head.Size));
        }
        head.SnapSeq = Math.Max(head.SnapSeq, snapSeq);
    }

    /// <summary>
    /// Copy-on-write of one head block into <paramref name="clone"/>, unless the clone already has an
    /// entry for it: the block's stored value, or an empty value when the head has none (a hole).
    /// <paramref name="scratch"/> is a buffer of at least <see cref="ObjectBlocks.BlockValueSize"/> bytes.
    /// </summary>
    public static void Preserve(IObjectStore store, IStoreBatch batch, ulong pg, string name, ulong clone, uint block, byte[] scratch)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 28];
        int n = StoreKeys.CloneBlock(key, pg, name, clone, block);
        if (store.ReadChecksummed(key[..n], Span<byte>.Empty) >= 0)
        {
            return;
        }
        // A placed block is copied inline: a slot has one owner (ObjectBlocks).
        int length = ObjectBlocks.ReadHeadBlock(store, pg, name, block, scratch);
        if (length == -1)
        {
            batch.Put(key[..n], ReadOnlySpan<byte>.Empty);
        }
        else if (length >= 0 && length <= scratch.Length)
        {
            batch.Put(key[..n], scratch.AsSpan(0, length));
        }
        else if (length >= 0)
        {
            Span<byte> headKey = stackalloc byte[StoreKeys.MaxNameBytes + 20];
            int h = StoreKeys.Block(headKey, pg, name, block);
            batch.Put(key[..n], store.Get(headKey[..h]) ?? []);
        }
        else
        {
            // An unreadable placed block: keep what is known (its crc with no data fails every read of it, so
            // the snapshot's block is reported bad rather than silently zero).
            batch.Put(key[..n], scratch.AsSpan(0, 4));
        }
    }

    /// <summary>
    /// Deletes the head's data: with clones (or <paramref name="whiteout"/>) every present head block is
    /// first preserved in the newest clone and the head stays as a whiteout; otherwise the whole family
    /// is removed.
    /// </summary>
    public static void AddRemoveHead(IObjectStore store, IStoreBatch batch, ulong pg, string name, ObjectHead head, bool whiteout)
    {
        if (!whiteout)
        {
            ObjectBlocks.AddDelete(store, batch, pg, name);
            return;
        }
        if (head.Newest is { } newest)
        {
            byte[] scratch = ArrayPool<byte>.Shared.Rent(ObjectBlocks.BlockValueSize);
            try
            {
                foreach (uint block in HeadBlocks(store, pg, name))
                {
                    Preserve(store, batch, pg, name, newest.Id, block, scratch);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
        ObjectBlocks.AddDeleteHeadData(store, batch, pg, name);
        head.Whiteout = true;
        head.Size = 0;
    }

    /// <summary>
    /// Reads [offset, offset + destination.Length) of the object as it was at snapshot <paramref name="snap"/>
    /// (0 = the head). <paramref name="exists"/> is false when the object did not exist then (the
    /// destination is zeros); a block failing its checksum fails the read.
    /// </summary>
    public static BlockReadStatus ReadAt(IObjectStore store, ulong pg, string name, ObjectHead head, ulong snap, ulong offset, Span<byte> destination, out bool exists, out ulong size)
    {
        if (snap == 0 || snap > head.SnapSeq)
        {
            exists = head.Exists;
            size = head.Exists ? head.Size : 0;
            if (!exists)
            {
                destination.Clear();
                return BlockReadStatus.Ok;
            }
            return ObjectBlocks.Read(store, pg, name, offset, destination);
        }
        int first = head.CloneFor(snap);
        if (first < 0)
        {
            exists = false;
            size = 0;
            destination.Clear();
            return BlockReadStatus.Ok;
        }
        exists = true;
        size = head.Clones[first].Size;
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 28];
        byte[] block = ArrayPool<byte>.Shared.Rent(ObjectBlocks.BlockValueSize);
        try
        {
            int done = 0;
            while (done < destination.Length)
            {
                ulong position = offset + (ulong)done;
                uint index = (uint)(position / ObjectBlocks.BlockSize);
                int within = (int)(position % ObjectBlocks.BlockSize);
                int take = Math.Min(ObjectBlocks.BlockSize - within, destination.Length - done);
                int length = ResolveBlock(store, pg, name, head, first, index, block, key);
                if (length is 0 or -1)
                {
                    destination.Slice(done, take).Clear();
                }
                else if (length != ObjectBlocks.BlockValueSize || !ObjectBlocks.Verify(block))
                {
                    return BlockReadStatus.ChecksumMismatch;
                }
                else
                {
                    block.AsSpan(4 + within, take).CopyTo(destination[done..]);
                }
                done += take;
            }
            return BlockReadStatus.Ok;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>
    /// The stored value of block <paramref name="index"/> as clone number <paramref name="first"/> sees it:
    /// its length in <paramref name="block"/> (0 = a hole, -1 = absent everywhere = zeros).
    /// </summary>
    private static int ResolveBlock(IObjectStore store, ulong pg, string name, ObjectHead head, int first, uint index, byte[] block, Span<byte> key)
    {
        for (int k = first; k < head.Clones.Count; k++)
        {
            int n = StoreKeys.CloneBlock(key, pg, name, head.Clones[k].Id, index);
            int length = store.ReadChecksummed(key[..n], block);
            if (length >= 0)
            {
                return length;
            }
        }
        return ObjectBlocks.ReadHeadBlock(store, pg, name, index, block);
    }

    /// <summary>
    /// Rollback: the head becomes what the object was at <paramref name="snap"/>. Call after
    /// <see cref="BeginModification"/> (a new clone first preserves the current head). Returns false when
    /// a block of the snapshot failed its checksum (the family must then be recovered). <paramref name="existed"/>
    /// says whether the object existed at the snapshot; when not, the caller removes the head.
    /// </summary>
    public static bool AddRollback(IObjectStore store, IStoreBatch batch, ulong pg, string name, ObjectHead head, ulong snap, out bool existed)
    {
        int first = head.CloneFor(snap);
        bool fromHead = snap > head.SnapSeq;
        existed = fromHead ? head.Exists : first >= 0;
        if (fromHead)
        {
            return true; // The head is already what it was at the snapshot.
        }
        var target = new SortedDictionary<uint, byte[]?>();
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 28];
        byte[] scratch = new byte[ObjectBlocks.BlockValueSize];
        if (existed)
        {
            var indexes = new SortedSet<uint>(HeadBlocks(store, pg, name));
            for (int k = first; k < head.Clones.Count; k++)
            {
                int n = StoreKeys.Clone(key, pg, name, head.Clones[k].Id);
                store.Scan(key[..n], (k2, _) =>
                {
                    indexes.Add(StoreKeys.BlockOf(k2));
                    return true;
                });
            }
            foreach (uint index in indexes)
            {
                int length = ResolveBlock(store, pg, name, head, first, index, scratch, key);
                if (length is 0 or -1)
                {
                    continue; // A hole at the snapshot.
                }
                if (length != ObjectBlocks.BlockValueSize || !ObjectBlocks.Verify(scratch))
                {
                    return false;
                }
                target[index] = scratch.AsSpan(0, length).ToArray();
            }
        }
        ulong size = existed ? head.Clones[first].Size : 0;
        if (head.Newest is { } newest)
        {
            var touched = new SortedSet<uint>(HeadBlocks(store, pg, name));
            touched.UnionWith(target.Keys);
            foreach (uint index in touched)
            {
                Preserve(store, batch, pg, name, newest.Id, index, scratch);
            }
        }
        ObjectBlocks.AddDeleteHeadData(store, batch, pg, name);
        foreach ((uint index, byte[]? value) in target)
        {
            int n = StoreKeys.Block(key, pg, name, index);
            batch.Put(key[..n], value);
        }
        if (existed)
        {
            head.Whiteout = false;
            head.Size = size;
        }
        return true;
    }

    /// <summary>
    /// Snap trim: drops clone <paramref name="cloneId"/> after moving the blocks the next older clone
    /// lacks into it. Returns false when the head has no such clone.
    /// </summary>
    public static bool AddTrim(IObjectStore store, IStoreBatch batch, ulong pg, string name, ObjectHead head, ulong cloneId)
    {
        int k = head.Clones.FindIndex(c => c.Id == cloneId);
        if (k < 0)
        {
            return false;
        }
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 28];
        int n = StoreKeys.Clone(key, pg, name, cloneId);
        byte[] prefix = key[..n].ToArray();
        if (k > 0)
        {
            ulong older = head.Clones[k - 1].Id;
            byte[] olderKey = new byte[StoreKeys.MaxNameBytes + 28];
            store.Scan(prefix, (blockKey, value) =>
            {
                int o = StoreKeys.CloneBlock(olderKey, pg, name, older, StoreKeys.BlockOf(blockKey));
                if (store.Read(olderKey.AsSpan(0, o), Span<byte>.Empty) < 0)
                {
                    batch.Put(olderKey.AsSpan(0, o), value);
                }
                return true;
            });
        }
        batch.DeleteRange(prefix, StoreKeys.PrefixEnd(prefix));
        head.Clones.RemoveAt(k);
        return true;
    }

    /// <summary>Indexes of the blocks present in the head.</summary>
    public static List<uint> HeadBlocks(IObjectStore store, ulong pg, string name)
    {
        var blocks = new List<uint>();
        ObjectBlocks.ScanHead(store, pg, name, (index, _, _) =>
        {
            blocks.Add(index);
            return true;
        });
        return blocks;
    }

    /// <summary>
    /// Reads a whole family for a recovery push: the head's metadata bytes, its blocks, and every clone's
    /// blocks and holes. Data gets the head's blocks then each clone's present blocks, in order. Returns
    /// false when a block fails its checksum (this copy is bad).
    /// </summary>
    public static bool ReadForPush(IObjectStore store, ulong pg, string name, Push push, ArrayBufferWriter<byte> data)
    {
        byte[]? meta = ReadHeadBytes(store, pg, name);
        ObjectHead? head = meta is null ? null : ObjectHead.Decode(meta);
        if (head is null)
        {
            return false;
        }
        var blocks = new List<uint>();
        if (!ObjectBlocks.ReadAll(store, pg, name, blocks, data))
        {
            return false;
        }
        push.Version = head.Version;
        push.Size = head.Size;
        push.Blocks.AddRange(blocks);
        push.Meta = Google.Protobuf.ByteString.CopyFrom(meta);
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 28];
        foreach (CloneInfo clone in head.Clones)
        {
            var cloneBlocks = new CloneBlocks { CloneId = clone.Id };
            int n = StoreKeys.Clone(key, pg, name, clone.Id);
            bool ok = true;
            store.Scan(key[..n], (k, v) =>
            {
                uint index = StoreKeys.BlockOf(k);
                if (v.Length == 0)
                {
                    cloneBlocks.Holes.Add(index);
                    return true;
                }
                if (v.Length != ObjectBlocks.BlockValueSize || !ObjectBlocks.Verify(v))
                {
                    ok = false;
                    return false;
                }
                cloneBlocks.Blocks.Add(index);
                data.Write(v.Slice(4, ObjectBlocks.BlockSize));
                return true;
            });
            if (!ok)
            {
                return false;
            }
            push.Clones.Add(cloneBlocks);
        }
        return true;
    }

    /// <summary>Replaces the whole family with what a push carries (recovery apply).</summary>
    public static void AddReplace(IObjectStore store, IStoreBatch batch, ulong pg, string name, Push push, ReadOnlySpan<byte> data)
    {
        if (push.Meta.Length == 0)
        {
            ObjectBlocks.AddReplace(store, batch, pg, name, new ObjectMeta(push.Version, push.Size), push.Blocks, data);
            return;
        }
        ObjectBlocks.AddDelete(store, batch, pg, name);
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 28];
        int m = StoreKeys.Named(key, StoreKeys.ObjectKind, pg, name);
        batch.Put(key[..m], push.Meta.Span);
        ObjectBlocks.AddHeadBlocks(store, batch, pg, name, push.Blocks, data[..(push.Blocks.Count * ObjectBlocks.BlockSize)]);
        int at = push.Blocks.Count * ObjectBlocks.BlockSize;
        foreach (CloneBlocks clone in push.Clones)
        {
            foreach (uint index in clone.Blocks)
            {
                int n = StoreKeys.CloneBlock(key, pg, name, clone.CloneId, index);
                ObjectBlocks.PutSealed(batch, key[..n], data.Slice(at, ObjectBlocks.BlockSize));
                at += ObjectBlocks.BlockSize;
            }
            foreach (uint index in clone.Holes)
            {
                int n = StoreKeys.CloneBlock(key, pg, name, clone.CloneId, index);
                batch.Put(key[..n], ReadOnlySpan<byte>.Empty);
            }
        }
    }

    /// <summary>Bytes the push data of a family must hold (for validation of received pushes).</summary>
    public static long PushDataBytes(Push push)
    {
        long blocks = push.Blocks.Count;
        foreach (CloneBlocks clone in push.Clones)
        {
            blocks += clone.Blocks.Count;
        }
        return blocks * ObjectBlocks.BlockSize;
    }

    /// <summary>
    /// What scrub compares of one family on one member: the head's metadata bytes and a digest over
    /// (owner, block index, stored crc) of every block of the head and its clones, holes included. A deep
    /// scrub also recomputes each block's crc and lists the blocks whose data does not match.
    /// </summary>
    public static ScrubObject Scrub(IObjectStore store, ulong pg, string name, bool deep, out long bytesRead)
    {
        var result = new ScrubObject { Object = name };
        byte[]? meta = ReadHeadBytes(store, pg, name);
        result.Meta = Google.Protobuf.ByteString.CopyFrom(meta ?? []);
        ObjectHead? head = meta is null ? null : ObjectHead.Decode(meta);
        uint digest = 0;
        long read = 0;
        ulong count = 0;
        byte[]? payload = null;
        // The digest covers (owner, index, stored crc) whichever way a head block is stored (inline or placed),
        // so members that hold the same data in different forms agree.
        void Visit(ulong owner, uint index, ReadOnlySpan<byte> value, bool placed, ScrubObject into, ref uint d)
        {
            Span<byte> r = stackalloc byte[17];
            BinaryPrimitives.WriteUInt64LittleEndian(r, owner);
            BinaryPrimitives.WriteUInt32LittleEndian(r[8..], index);
            string where = owner == HeadTag ? $"head:{index}" : $"clone {owner}:{index}";
            if (value.Length == 0 && owner != HeadTag)
            {
                r[16] = 1; // a hole
                BinaryPrimitives.WriteUInt32LittleEndian(r[12..], 0);
            }
            else if (value.Length != (placed ? ObjectBlocks.PlacedValueSize : ObjectBlocks.BlockValueSize))
            {
                into.BadBlocks.Add(where + " malformed");
                r[16] = 2;
            }
            else
            {
                uint stored = BinaryPrimitives.ReadUInt32LittleEndian(value);
                BinaryPrimitives.WriteUInt32LittleEndian(r[12..], stored);
                if (deep)
                {
                    payload ??= new byte[ObjectBlocks.BlockSize];
                    if (!ObjectBlocks.ReadBlockData(store, value, placed, payload))
                    {
                        into.BadBlocks.Add(where + " checksum mismatch");
                    }
                }
            }
            d = Crc32C.Append(d, r);
        }
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 28];
        ObjectBlocks.ScanHead(store, pg, name, (index, v, placed) =>
        {
            Visit(HeadTag, index, v, placed, result, ref digest);
            read += ObjectBlocks.BlockValueSize;
            count++;
            return true;
        });
        if (head is not null)
        {
            foreach (CloneInfo clone in head.Clones)
            {
                int c = StoreKeys.Clone(key, pg, name, clone.Id);
                store.Scan(key[..c], (k, v) =>
                {
                    Visit(clone.Id, StoreKeys.BlockOf(k), v, placed: false, result, ref digest);
                    read += v.Length;
                    count++;
                    return true;
                });
            }
        }
        result.Digest = digest;
        result.Blocks = count;
        bytesRead = read;
        return result;
    }

    /// <summary>Bytes of present blocks in the head and in each clone (for `fabric volume du`).</summary>
    public static (long HeadBytes, List<(ulong Clone, long Bytes)> Clones) Usage(IObjectStore store, ulong pg, string name, ObjectHead head)
    {
        long headBytes = 0;
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 28];
        ObjectBlocks.ScanHead(store, pg, name, (_, _, _) =>
        {
            headBytes += ObjectBlocks.BlockSize;
            return true;
        });
        var clones = new List<(ulong, long)>();
        foreach (CloneInfo clone in head.Clones)
        {
            long bytes = 0;
            int c = StoreKeys.Clone(key, pg, name, clone.Id);
            store.Scan(key[..c], (_, v) =>
            {
                if (v.Length > 0)
                {
                    bytes += ObjectBlocks.BlockSize;
                }
                return true;
            });
            clones.Add((clone.Id, bytes));
        }
        return (headBytes, clones);
    }
}
