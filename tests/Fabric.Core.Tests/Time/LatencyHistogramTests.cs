using Fabric.Core.Time;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Core.Tests.Time;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Empty_histogram_reports_zero()
    {
        var histogram = new LatencyHistogram();
        Assert.Equal(0, histogram.Count);
        Assert.Equal(0, histogram.PercentileMicros(0.5));
    }

    [Fact]
    public void Small_values_are_exact_and_sum_and_count_are_exact()
    {
        var histogram = new LatencyHistogram();
        for (int i = 1; i <= 10; i++)
        {
            histogram.RecordMicros(i);
        }
        Assert.Equal(10, histogram.Count);
        Assert.Equal(55, histogram.SumMicros);
        Assert.Equal(5, histogram.PercentileMicros(0.5));
        Assert.Equal(10, histogram.PercentileMicros(0.99));
        Assert.Equal(1, histogram.PercentileMicros(0));
    }

    [Fact]
    public void Percentiles_of_a_spread_fall_in_the_right_place()
    {
        var histogram = new LatencyHistogram();
        for (int i = 0; i < 900; i++)
        {
            histogram.RecordMicros(400);
        }
        for (int i = 0; i < 100; i++)
        {
            histogram.RecordMicros(30_000);
        }
        Assert.InRange(histogram.PercentileMicros(0.5), 400, 400 * 1.07);
        Assert.InRange(histogram.PercentileMicros(0.95), 30_000, 30_000 * 1.07);
        histogram.Reset();
        Assert.Equal(0, histogram.Count);
        Assert.Equal(0, histogram.PercentileMicros(0.5));
    }

    [Fact]
    public void Huge_and_negative_values_are_clamped_not_thrown()
    {
        var histogram = new LatencyHistogram();
        histogram.RecordMicros(-5);
        histogram.RecordMicros(long.MaxValue / 4);
        Assert.Equal(2, histogram.Count);
        Assert.Equal(0, histogram.PercentileMicros(0.5));
        Assert.True(histogram.PercentileMicros(1) >= 1L << 39);
    }

    [Fact]
    public void Every_value_falls_in_a_bucket_whose_upper_edge_bounds_it_within_7_percent()
    {
        Prop.ForAll(Gen.Choose(0, int.MaxValue).Select(v => (long)v * 3).ToArbitrary(), value =>
        {
            int bucket = LatencyHistogram.BucketOf(value);
            long upper = LatencyHistogram.UpperEdge(bucket);
            long lower = bucket == 0 ? 0 : LatencyHistogram.UpperEdge(bucket - 1) + 1;
            return value >= lower && value <= upper && upper <= Math.Max(value, 15) * 1.0625 + 1;
        }).QuickCheckThrowOnFailure();
    }
}
