using System.Buffers.Binary;
using Fabric.Core.Checksums;

namespace Fabric.IntegrationTests.Storage;

/// <summary>
/// A self-describing 4 KiB block for durability tests: magic, the block's index, a write sequence
/// number, payload derived from both, and a crc32c over all of it. A block read back proves where it
/// belongs, which write it is, and that none of its bytes changed.
/// </summary>
/// <remarks>Layout: [0,8) magic "FABBLOCK"; [8,16) index; [16,24) sequence; [24,4092) payload; [4092,4096) crc32c of [0,4092).</remarks>
public static class CheckedBlock
{
    public const int Size = 4096;
    private const ulong Magic = 0x4B434F4C42424146; // "FABBLOCK" little-endian

    public static void Fill(Span<byte> block, long index, long sequence)
    {
        if (block.Length != Size) throw new ArgumentException("a checked block is 4 KiB");
        BinaryPrimitives.WriteUInt64LittleEndian(block, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(block[8..], index);
        BinaryPrimitives.WriteInt64LittleEndian(block[16..], sequence);
        // Payload: a cheap xorshift stream seeded by (index, sequence), so two versions never look alike.
        ulong state = (ulong)index * 0x9E3779B97F4A7C15UL ^ (ulong)sequence * 0xC2B2AE3D27D4EB4FUL ^ 0x165667B19E3779F9UL;
        for (int offset = 24; offset < Size - 4; offset += 4)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            BinaryPrimitives.WriteUInt32LittleEndian(block[offset..], (uint)state);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(block[(Size - 4)..], Crc32C.Compute(block[..(Size - 4)]));
    }

    /// <summary>Decodes a block: false with a reason when it is all zeros, not a checked block, or corrupt.</summary>
    public static bool TryRead(ReadOnlySpan<byte> block, out long index, out long sequence, out string? problem)
    {
        index = BinaryPrimitives.ReadInt64LittleEndian(block[8..]);
        sequence = BinaryPrimitives.ReadInt64LittleEndian(block[16..]);
        if (block.IndexOfAnyExcept((byte)0) < 0)
        {
            problem = "the block reads as zeros";
            return false;
        }
        if (BinaryPrimitives.ReadUInt64LittleEndian(block) != Magic)
        {
            problem = "the block has no magic (overwritten by something else)";
            return false;
        }
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(block[(Size - 4)..]);
        uint computed = Crc32C.Compute(block[..(Size - 4)]);
        if (stored != computed)
        {
            problem = $"crc mismatch (stored {stored:x8}, computed {computed:x8})";
            return false;
        }
        problem = null;
        return true;
    }
}
