using Fabric.Core.Units;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Config.Tests.Units;

public sealed class DurationTextTests
{
    [Theory]
    [InlineData("500ms", 500 * TimeSpan.TicksPerMillisecond)]
    [InlineData("3s", 3 * TimeSpan.TicksPerSecond)]
    [InlineData("1m", TimeSpan.TicksPerMinute)]
    [InlineData("2h", 2 * TimeSpan.TicksPerHour)]
    [InlineData("1.5s", 15 * TimeSpan.TicksPerSecond / 10)]
    [InlineData("1m30s", 90 * TimeSpan.TicksPerSecond)]
    [InlineData("1m 30s", 90 * TimeSpan.TicksPerSecond)]
    [InlineData("250us", 250 * TimeSpan.TicksPerMicrosecond)]
    [InlineData("250µs", 250 * TimeSpan.TicksPerMicrosecond)]
    [InlineData("300ns", 3L)]
    [InlineData("1d", TimeSpan.TicksPerDay)]
    [InlineData("0s", 0L)]
    public void ParsesDurations(string text, long ticks)
    {
        Assert.True(DurationText.TryParse(text, out var value, out var error), error);
        Assert.Equal(ticks, value.Ticks);
    }

    [Theory]
    [InlineData("500", "no unit")]
    [InlineData("-3s", "negative")]
    [InlineData("3 seconds", "unknown duration unit 'seconds'")]
    [InlineData("3S", "unknown duration unit 'S'")]
    [InlineData("ms", "not a duration")]
    [InlineData("50ns", "finer than 100ns")]
    [InlineData("9999999999999999h", "too long")]
    [InlineData("", "empty")]
    public void RejectsBadDurationsSayingWhatIsExpected(string text, string reason)
    {
        Assert.False(DurationText.TryParse(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => DurationText.Parse(text));
    }

    [Theory]
    [InlineData(0L, "0s")]
    [InlineData(500 * TimeSpan.TicksPerMillisecond, "500ms")]
    [InlineData(90 * TimeSpan.TicksPerSecond, "1m30s")]
    [InlineData(60 * TimeSpan.TicksPerSecond, "1m")]
    [InlineData(TimeSpan.TicksPerHour + (5 * TimeSpan.TicksPerSecond), "1h5s")]
    [InlineData(15 * TimeSpan.TicksPerSecond / 10, "1s500ms")]
    [InlineData(3L, "300ns")]
    public void FormatsTheShortestExactText(long ticks, string text)
    {
        Assert.Equal(text, DurationText.Format(TimeSpan.FromTicks(ticks)));
    }

    [Fact]
    public void FormattingThenParsingGivesTheSameDuration()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue).Two()), pair =>
        {
            var value = TimeSpan.FromTicks(((long)pair.Item1 << 20) ^ pair.Item2);
            return DurationText.Parse(DurationText.Format(value)) == value;
        }).QuickCheckThrowOnFailure();
    }
}
