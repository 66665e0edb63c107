using Fabric.Storage.Store;

namespace Fabric.IntegrationTests.DataServices;

/// <summary>
/// The "flip bytes in its store" tool: opens a stopped node's object store (RocksDB, DATA/osd) and flips
/// one byte of one stored 4 KiB block of an object, leaving its checksum as it was, as a failing disk
/// would. The node must not run (RocksDB holds a lock on the store while it does).
/// </summary>
public static class StoreCorruptor
{
    /// <summary>Flips the byte at <paramref name="byteOffset"/> of block <paramref name="block"/>; returns what it did.</summary>
    public static string FlipByte(string storePath, ulong pg, string objectName, uint block, int byteOffset)
    {
        if (!Directory.Exists(storePath))
        {
            throw new DirectoryNotFoundException($"no object store at {storePath}");
        }
        using RocksDbObjectStore store = RocksDbObjectStore.Open(storePath);
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int n = StoreKeys.Block(key, pg, objectName, block);
        IStoreBatch batch = store.CreateBatch();
        if (store.Get(key[..n]) is { } value)
        {
            // An inline block: the 4-byte crc32c, then the data: flip a data byte.
            value[4 + byteOffset] ^= 0x5A;
            batch.Put(key[..n], value);
        }
        else
        {
            // A placed block (a large write): its data is in the slot file; the record (crc, slot) stays as it was.
            n = StoreKeys.Placed(key, pg, objectName, block / PlacedChunk.Blocks);
            byte[] record = store.Get(key[..n]) ?? throw new InvalidOperationException($"block {block} of {objectName} is not in {storePath}");
            long slot = -1;
            ObjectBlocks.ScanPlaced(store, key[..n], (_, b, _, s) =>
            {
                if (b == block)
                {
                    slot = s;
                }
            });
            if (slot < 0)
            {
                throw new InvalidOperationException($"block {block} of {objectName} is not in {storePath}");
            }
            byte[] data = new byte[ObjectBlocks.BlockSize];
            if (!store.ReadSlots(slot, data))
            {
                throw new InvalidOperationException($"slot {slot} of block {block} of {objectName} is unreadable in {storePath}");
            }
            data[byteOffset] ^= 0x5A;
            store.WriteSlots(slot, data);
            batch.Put(key[..n], record); // A batch to sync: the slot file is synced before it.
        }
        var durable = new ManualResetEventSlim();
        store.Write(batch, durable.Set);
        if (!durable.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"the flipped block of {objectName} did not become durable in {storePath}");
        }
        return $"flipped byte {byteOffset} of block {block} of {objectName} (pg {pg:x}) in {storePath}";
    }
}
