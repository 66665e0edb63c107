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
