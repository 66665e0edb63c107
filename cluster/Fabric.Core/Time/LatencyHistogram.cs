using System.Diagnostics;

namespace Fabric.Core.Time;

/// <summary>
/// Latencies in microseconds, counted in log-linear buckets (16 per power of two, so a reported percentile is within
/// about 6 % of the true value), for perf counters on a hot path: recording is a few integer operations and no
/// allocation. Sums and counts are exact.
/// </summary>
/// <remarks>
/// One writer (the thread that owns the component); readers on other threads (a metrics scrape) may see a
/// recording half-applied (a count without its bucket), which moves a percentile by one sample at most.
/// </remarks>
public sealed class LatencyHistogram
{
    private const int SubBits = 4;
    private const int Sub = 1 << SubBits;

    /// <summary>Values below this many microseconds have a bucket each; above, 16 buckets per power of two up to 2^40 µs.</summary>
    private const int Linear = Sub;

    private const int MaxExponent = 40;
    private readonly long[] _buckets = new long[Linear + (MaxExponent - SubBits) * Sub];
    private long _count;
    private long _sumMicros;

    public long Count => Volatile.Read(ref _count);

    public long SumMicros => Volatile.Read(ref _sumMicros);

    /// <summary>Records the time since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value).</summary>
    public void RecordSince(long startTimestamp)
    {
        long elapsed = Stopwatch.GetTimestamp() - startTimestamp;
        RecordMicros(elapsed <= 0 ? 0 : elapsed * 1_000_000 / Stopwatch.Frequency);
    }

    public void RecordMicros(long micros)
    {
        if (micros < 0)
        {
            micros = 0;
        }
        _buckets[BucketOf(micros)]++;
        _sumMicros += micros;
        Volatile.Write(ref _count, _count + 1);
    }

    /// <summary>The value at quantile <paramref name="q"/> (0..1) in microseconds: the upper edge of the bucket holding it;
    /// 0 when nothing was recorded.</summary>
    public long PercentileMicros(double q)
    {
        long count = Count;
        if (count == 0)
        {
            return 0;
        }
        long rank = Math.Max(1, (long)Math.Ceiling(Math.Clamp(q, 0, 1) * count));
        long seen = 0;
        for (int i = 0; i < _buckets.Length; i++)
        {
            seen += Volatile.Read(ref _buckets[i]);
            if (seen >= rank)
            {
                return UpperEdge(i);
            }
        }
        return UpperEdge(_buckets.Length - 1);
    }

    public void Reset()
    {
        Array.Clear(_buckets);
        _sumMicros = 0;
        Volatile.Write(ref _count, 0);
    }

    public static int BucketOf(long micros)
    {
        if (micros < Linear)
        {
            return (int)micros;
        }
        int exponent = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)micros); // >= SubBits
        if (exponent >= MaxExponent)
        {
            return Linear + (MaxExponent - SubBits) * Sub - 1;
        }
        int mantissa = (int)(micros >> (exponent - SubBits)) & (Sub - 1);
        return Linear + (exponent - SubBits) * Sub + mantissa;
    }

    /// <summary>The largest value that falls in bucket <paramref name="bucket"/>.</summary>
    public static long UpperEdge(int bucket)
    {
        if (bucket < Linear)
        {
            return bucket;
        }
        int exponent = (bucket - Linear) / Sub + SubBits;
        int mantissa = (bucket - Linear) % Sub;
        long low = (1L << exponent) + ((long)mantissa << (exponent - SubBits));
        return low + (1L << (exponent - SubBits)) - 1;
    }
}
