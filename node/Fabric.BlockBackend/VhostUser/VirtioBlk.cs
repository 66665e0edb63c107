using System.Buffers.Binary;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>virtio-blk constants and the device configuration space (virtio 1.1 §5.2).</summary>
internal static class VirtioBlk
{
    public const int SectorBytes = 512;
    public const int RequestHeaderBytes = 16;
    public const int DiscardSegmentBytes = 16;
    public const int IdBytes = 20;

    // Feature bits.
    public const int FeatureSegMax = 2;
    public const int FeatureRo = 5;
    public const int FeatureBlkSize = 6;
    public const int FeatureFlush = 9;
    public const int FeatureMq = 12;
    public const int FeatureDiscard = 13;
    public const int FeatureWriteZeroes = 14;

    // Request types.
    public const uint TypeIn = 0;
    public const uint TypeOut = 1;
    public const uint TypeFlush = 4;
    public const uint TypeGetId = 8;
    public const uint TypeDiscard = 11;
    public const uint TypeWriteZeroes = 13;

    // Status byte.
    public const byte StatusOk = 0;
    public const byte StatusIoErr = 1;
    public const byte StatusUnsupported = 2;

    public const uint WriteZeroesFlagUnmap = 1;

    public const int SegMax = 126;
    public const uint MaxDiscardSectors = 1 << 16;     // 32 MiB per request
    public const uint MaxWriteZeroesSectors = 1 << 16;

    /// <summary>The config space QEMU reads with GET_CONFIG. Layout (little-endian):
    /// capacity u64 @0, size_max u32 @8, seg_max u32 @12, geometry @16, blk_size u32 @20, topology @24,
    /// writeback u8 @32, num_queues u16 @34, max_discard_sectors u32 @36, max_discard_seg u32 @40,
    /// discard_sector_alignment u32 @44, max_write_zeroes_sectors u32 @48, max_write_zeroes_seg u32 @52,
    /// write_zeroes_may_unmap u8 @56; later fields stay zero.</summary>
    public static byte[] BuildConfig(long sizeBytes, int blockSize, int numQueues)
    {
        var c = new byte[256];
        BinaryPrimitives.WriteUInt64LittleEndian(c.AsSpan(0), (ulong)(sizeBytes / SectorBytes));
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(12), SegMax);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(20), (uint)blockSize);
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(34), (ushort)numQueues);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(36), MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(40), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(44), (uint)Math.Max(1, blockSize / SectorBytes));
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(48), MaxWriteZeroesSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(52), 1);
        c[56] = 1;
        return c;
    }
}
