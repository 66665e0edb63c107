using System.Text.Json;
using Fabric.Client.Volumes;
using Fabric.Core.Io;

namespace Fabric.Bench.DataServices;

/// <summary>
/// <c>volume-writer --monitor ADDR --volume NAME --identity ID [--lock] [--bytes N] [--qd N] [--seed N]
/// [--no-local-lock-check] [--stop-after-fenced N] [--seconds N]</c>: a lock holder for fencing drills.
/// It takes the volume's exclusive lock (with --lock), then overwrites the first N bytes in 4 KiB blocks
/// over and over with a pattern named by (seed, block, round), and prints one JSON line per event on
/// stdout: "locked" (lock epoch), "progress" (every 200 writes), every failed write ("write" with status,
/// offset and the wall-clock time it was issued), with --log-every-write every successful one too ("ok"),
/// and "done". With --no-local-lock-check it keeps writing
/// with its old lock epoch even when its map says the lock moved on, so that the OSDs must refuse it.
/// </summary>
public static class VolumeWriter
{
    public static async Task<int> RunAsync(string[] args)
    {
        Dictionary<string, string> options = BenchCluster.Options(args);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(int.Parse(options.GetValueOrDefault("seconds", "600"))));
        await using BenchCluster cluster = await BenchCluster.ConnectAsync(options["monitor"], options["identity"], stop.Token);
        VolumeClient volume = cluster.Open(options["volume"]);
        volume.LocalLockCheck = !options.ContainsKey("no-local-lock-check");
        if (options.ContainsKey("lock"))
        {
            await volume.AcquireLockAsync(cluster.Propose, "volume-writer " + options["identity"], stop.Token);
            Emit(new { @event = "locked", lock_epoch = volume.LockEpoch, pid = Environment.ProcessId });
        }
        long bytes = long.Parse(options.GetValueOrDefault("bytes", (1 << 20).ToString()));
        int queueDepth = int.Parse(options.GetValueOrDefault("qd", "4"));
        int seed = int.Parse(options.GetValueOrDefault("seed", "1"));
        int stopAfterFenced = int.Parse(options.GetValueOrDefault("stop-after-fenced", "0"));
        bool logEvery = options.ContainsKey("log-every-write");
        long blocks = bytes / 4096;
        long next = 0, written = 0, fenced = 0;
        var gate = new object();
        async Task Worker()
        {
            byte[] buffer = new byte[4096];
            while (!stop.IsCancellationRequested)
            {
                long n = Interlocked.Increment(ref next) - 1;
                long block = n % blocks;
                long round = n / blocks;
                Pattern(buffer, seed, block, round);
                long issuedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                BlockIoStatus status = await volume.WriteAsync(block * 4096, buffer, false, stop.Token);
                if (status == BlockIoStatus.Ok)
                {
                    if (logEvery)
                    {
                        Emit(new { @event = "ok", offset = block * 4096, issued_unix_ms = issuedUnixMs });
                    }
                    if (Interlocked.Increment(ref written) % 200 == 0)
                    {
                        Emit(new { @event = "progress", written = Volatile.Read(ref written), round });
                    }
                    continue;
                }
                Emit(new { @event = "write", status = status.ToString(), offset = block * 4096, issued_unix_ms = issuedUnixMs });
                if (status == BlockIoStatus.Fenced && stopAfterFenced > 0 && Interlocked.Increment(ref fenced) >= stopAfterFenced)
                {
                    stop.Cancel();
                }
            }
        }
        try
        {
            await Task.WhenAll(Enumerable.Range(0, queueDepth).Select(_ => Worker()));
        }
        catch (OperationCanceledException)
        {
        }
        Emit(new { @event = "done", written, fenced });
        return 0;
    }

    /// <summary>The bytes the writer puts in one block in one round (tests recompute it).</summary>
    public static void Pattern(Span<byte> block, int seed, long index, long round)
    {
        // Not HashCode.Combine: its seed differs per process, and tests recompute these bytes.
        var random = new Random(unchecked((int)((ulong)seed * 1_000_003UL ^ (ulong)index * 7_919UL ^ (ulong)round * 104_729UL)));
        random.NextBytes(block);
    }

    private static readonly object ConsoleLock = new();

    private static void Emit(object value)
    {
        string line = JsonSerializer.Serialize(value);
        lock (ConsoleLock)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }
}
