using System.Diagnostics;
using Fabric.Core.Io;

namespace Fabric.Client.Volumes;

/// <summary>What `fabric volume bench` runs (fio-like).</summary>
public sealed record VolumeBenchmarkOptions
{
    /// <summary>"rand" or "seq".</summary>
    public string Pattern { get; init; } = "rand";

    /// <summary>"read" or "write".</summary>
    public string ReadWrite { get; init; } = "write";

    public int BlockSize { get; init; } = 4096;

    public int QueueDepth { get; init; } = 16;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bytes of the volume used from offset 0 (0 = the whole volume).</summary>
    public long RangeBytes { get; init; }

    public int Seed { get; init; } = 1;
}

/// <summary>Results: operations, throughput and completion latency percentiles.</summary>
public sealed record VolumeBenchmarkResult(long Operations, long Bytes, double Seconds, double Iops, double MiBPerSecond,
    double P50Micros, double P99Micros, double P999Micros, long Errors, BlockIoStatus? FirstError = null);

/// <summary>
/// The engine behind `fabric volume bench NAME`: keeps QueueDepth requests of BlockSize in flight for
/// Duration (random or sequential offsets, aligned to the block size) and measures per-request latency
/// with a Stopwatch.
/// </summary>
public static class VolumeBenchmark
{
    public static async Task<VolumeBenchmarkResult> RunAsync(IBlockVolume volume, VolumeBenchmarkOptions options, CancellationToken cancellationToken = default)
    {
        long range = options.RangeBytes > 0 ? Math.Min(options.RangeBytes, volume.SizeBytes) : volume.SizeBytes;
        long blocks = range / options.BlockSize;
        if (blocks <= 0)
        {
            throw new ArgumentException($"volume '{volume.Name}' is smaller than one block of {options.BlockSize} bytes");
        }
        bool write = options.ReadWrite == "write";
        bool sequential = options.Pattern == "seq";
        var latencies = new List<long>[options.QueueDepth];
        long nextSequential = 0;
        long errors = 0;
        int firstError = -1;
        var clock = Stopwatch.StartNew();
        long deadline = (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        var workers = new Task[options.QueueDepth];
        for (int w = 0; w < workers.Length; w++)
        {
            int worker = w;
            latencies[worker] = new List<long>(1 << 16);
            workers[w] = Task.Run(async () =>
            {
                var random = new Random(options.Seed * 7919 + worker);
                byte[] buffer = GC.AllocateUninitializedArray<byte>(options.BlockSize, pinned: true);
                random.NextBytes(buffer);
                while (clock.ElapsedTicks < deadline && !cancellationToken.IsCancellationRequested)
                {
                    long block = sequential ? Interlocked.Increment(ref nextSequential) - 1 : random.NextInt64(blocks);
                    long offset = block % blocks * options.BlockSize;
                    long start = Stopwatch.GetTimestamp();
                    BlockIoStatus status = write
                        ? await volume.WriteAsync(offset, buffer, fua: false, cancellationToken).ConfigureAwait(false)
                        : await volume.ReadAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
                    long elapsed = Stopwatch.GetTimestamp() - start;
                    if (status != BlockIoStatus.Ok)
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, (int)status, -1);
                        continue;
                    }
                    latencies[worker].Add(elapsed);
                }
            }, cancellationToken);
        }
        await Task.WhenAll(workers).ConfigureAwait(false);
        double seconds = clock.Elapsed.TotalSeconds;
        var all = new List<long>();
        foreach (List<long> list in latencies)
        {
            all.AddRange(list);
        }
        all.Sort();
        long ops = all.Count;
        double Percentile(double p) => ops == 0 ? 0 : all[(int)Math.Min(ops - 1, Math.Floor(p * ops))] * 1_000_000.0 / Stopwatch.Frequency;
        long bytes = ops * options.BlockSize;
        return new VolumeBenchmarkResult(ops, bytes, seconds, ops / seconds, bytes / seconds / (1 << 20), Percentile(0.50), Percentile(0.99), Percentile(0.999), errors,
            firstError < 0 ? null : (BlockIoStatus)firstError);
    }
}
