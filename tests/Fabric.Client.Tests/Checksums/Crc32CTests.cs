using System.Text;
using Fabric.Core.Checksums;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Client.Tests.Checksums;

public class Crc32CTests
{
    [Fact]
    public void Check_value_of_the_standard_string()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0xE3069283u, Crc32C.ComputeSoftware(Encoding.ASCII.GetBytes("123456789")));
    }

    [Theory]
    [InlineData(4096, 1)]
    [InlineData(4096, 3)]
    [InlineData(4096, 4)]
    [InlineData(4096, 9)]
    [InlineData(32, 8)]
    [InlineData(5, 7)] // not a multiple of 8: one block at a time
    public void Blocks_computed_four_at_a_time_match_one_at_a_time(int blockSize, int blocks)
    {
        byte[] data = new byte[blockSize * blocks];
        new Random(blockSize * 31 + blocks).NextBytes(data);
        uint[] crcs = new uint[blocks + 1];
        Crc32C.ComputeBlocks(data, blockSize, crcs);
        for (int i = 0; i < blocks; i++)
        {
            Assert.Equal(Crc32C.ComputeSoftware(data.AsSpan(i * blockSize, blockSize)), crcs[i]);
        }
        Assert.Equal(0u, crcs[blocks]); // nothing past the blocks
        Assert.Throws<ArgumentException>(() => Crc32C.ComputeBlocks(data.AsSpan(1), blockSize, crcs));
        Assert.Throws<ArgumentException>(() => Crc32C.ComputeBlocks(data, blockSize, new uint[blocks - 1]));
    }

    [Fact]
    public void Rfc3720_vectors()
    {
        // RFC 3720 (iSCSI) appendix B.4.
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
        Assert.Equal(0x113FDB5Cu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray()));
        Assert.Equal(0u, Crc32C.Compute(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Hardware_and_software_agree_and_append_composes()
    {
        Prop.ForAll<byte[], byte[]>((a, b) =>
        {
            byte[] all = a.Concat(b).ToArray();
            return Crc32C.Compute(all) == Crc32C.ComputeSoftware(all)
                && Crc32C.Append(Crc32C.Compute(a), b) == Crc32C.Compute(all);
        }).QuickCheckThrowOnFailure();
    }
}
