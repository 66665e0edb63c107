using System.Globalization;

namespace Fabric.Bench.Membership;

/// <summary>
/// Order statistics of one set of latency samples, in milliseconds. Percentiles are nearest-rank
/// (the sample at rank ceil(p * n)), so p99 of 200 samples is the 198th smallest, and max is a real
/// sample, never interpolated.
/// </summary>
public sealed record LatencySummary(int Count, double MeanMs, double P50Ms, double P90Ms, double P99Ms, double MinMs, double MaxMs)
{
    public static LatencySummary Of(IReadOnlyCollection<double> samplesMs)
    {
        if (samplesMs.Count == 0) return new LatencySummary(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        var sorted = samplesMs.ToArray();
        Array.Sort(sorted);
        return new LatencySummary(sorted.Length, sorted.Average(), Rank(sorted, 0.50), Rank(sorted, 0.90), Rank(sorted, 0.99), sorted[0], sorted[^1]);
    }

    private static double Rank(double[] sorted, double p)
    {
        var rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    /// <summary>"p50 / p99 / max" in ms, for a table cell.</summary>
    public string Cell => Count == 0 ? "n/a" : $"{Ms(P50Ms)} / {Ms(P99Ms)} / {Ms(MaxMs)}";

    public static string Ms(double value) => double.IsNaN(value) ? "n/a"
        : value.ToString(value < 10 ? "0.00" : value < 100 ? "0.0" : "0", CultureInfo.InvariantCulture);
}
