using Fabric.Core.Units;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Config.Tests.Units;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData("512", 512L)]
    [InlineData("512B", 512L)]
    [InlineData("4KiB", 4096L)]
    [InlineData("256MiB", 256L << 20)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("2G", 2L << 30)]
    [InlineData("2g", 2L << 30)]
    [InlineData("64k", 64L << 10)]
    [InlineData(" 8 GiB ", 8L << 30)]
    [InlineData("1TiB", 1L << 40)]
    [InlineData("0", 0L)]
    [InlineData("7EiB", 7L << 60)]
    public void ParsesSizesAsOperatorsWriteThem(string text, long bytes)
    {
        Assert.True(ByteSize.TryParse(text, out var size, out var error), error);
        Assert.Equal(bytes, size.Bytes);
        Assert.Equal(bytes, ByteSize.Parse(text).Bytes);
    }

    [Theory]
    [InlineData("-1GiB", "negative")]
    [InlineData("2GB", "ambiguous")]
    [InlineData("2MB", "write 2MiB")]
    [InlineData("2kb", "ambiguous")]
    [InlineData("1.5", "whole number of bytes")]
    [InlineData("0.3KiB", "whole number of bytes")]
    [InlineData("8EiB", "too large")]
    [InlineData("99999999999999999999999999999999", "too large")]
    [InlineData("lots", "not a size")]
    [InlineData("1.2.3MiB", "not a size")]
    [InlineData(".5GiB", "not a size")]
    [InlineData("5 parsecs", "unknown size unit")]
    [InlineData("", "empty")]
    public void RejectsBadSizesSayingWhatIsExpected(string text, string reason)
    {
        Assert.False(ByteSize.TryParse(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
        var exception = Assert.Throws<FormatException>(() => ByteSize.Parse(text));
        Assert.Equal(error, exception.Message);
    }

    [Fact]
    public void UnknownUnitErrorsListTheAcceptedForms()
    {
        ByteSize.TryParse("3 bananas", out _, out var error);
        Assert.Contains("256MiB", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(1000L, "1000")]
    [InlineData(4096L, "4KiB")]
    [InlineData(1536L << 20, "1536MiB")]
    [InlineData(2L << 30, "2GiB")]
    public void FormatsExactlyInTheLargestDividingUnit(long bytes, string text)
    {
        Assert.Equal(text, new ByteSize(bytes).ToString());
    }

    [Fact]
    public void FormattingThenParsingGivesTheSameSize()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue).Two()), Arb.From(Gen.Choose(0, 61)), (pair, shift) =>
        {
            // Any non-negative size, and sizes that are whole KiB, MiB, GiB (the unit forms).
            var any = (((long)pair.Item1 << 31) | (long)pair.Item2) >> shift;
            var whole = (long)pair.Item2 << (10 * (shift % 4));
            return ByteSize.Parse(new ByteSize(any).ToString()).Bytes == any
                && ByteSize.Parse(new ByteSize(whole).ToString()).Bytes == whole;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void HumanFormIsApproximate()
    {
        Assert.Equal("1.5 GiB", new ByteSize(3L << 29).ToHumanString());
        Assert.Equal("300 B", new ByteSize(300).ToHumanString());
        Assert.Equal("512 MiB", ByteSize.FromMiB(512).ToHumanString());
    }

    [Fact]
    public void NegativeSizesCannotBeConstructed()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ByteSize(-1));
        Assert.True(ByteSize.FromMiB(4).IsPowerOfTwo);
        Assert.False(new ByteSize(3).IsPowerOfTwo);
        Assert.True(ByteSize.FromKiB(1) < ByteSize.FromMiB(1));
    }
}
