// Durable write and point read throughput of Fabric.RocksDb on this machine.
//
//   dotnet run --project bench/Fabric.Bench -c Release -- rocksdb [--seconds N] [--dir PATH] [--case TEXT]...
// (--case runs only the cases whose name contains TEXT; repeatable.)
//
// Write cases: one logical write = one batch of a 4 KiB data value + a 100 B metadata value,
// applied to each of D databases (D = 1, or 3 as three replicas on one disk) and complete only
// when durable in all of them. Writers W = 1 or 16. Two ways to be durable:
//   sync     - rocksdb_write with sync=true (RocksDB's own group commit); each writer runs one
//              dedicated thread per database, the D threads of a writer move in lockstep
//              (a Barrier), so the D replicas are written in parallel, never on the thread pool;
//   durable  - DurableWriter per database (sync=false + ManualWalFlush + one FlushWal(sync)
//              thread); each writer is an async loop that starts the D writes and awaits them.
// Read case: 20,000 keys of 4 KiB flushed to SSTs (80 MB, more than the 64 MiB block cache),
// then random point reads into a caller buffer (no allocation) from 1 and 2 threads.
// Latencies are per logical operation; p50/p99 over the measured window (after a warm-up).
using System.Diagnostics;
using Fabric.RocksDb;

namespace Fabric.Bench.RocksDb;

public static class RocksDbBench
{
    private const int DataBytes = 4096;
    private const int MetaBytes = 100;

    public static int Run(string[] args)
    {
        double seconds = 5;
        string root = Path.Combine(Path.GetTempPath(), "fabric-bench-rocksdb");
        var only = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seconds": seconds = double.Parse(args[++i]); break;
                case "--dir": root = args[++i]; break;
                case "--case": only.Add(args[++i]); break;
                default:
                    Console.Error.WriteLine($"rocksdb bench: unknown argument {args[i]} (use --seconds N, --dir PATH, --case TEXT)");
                    return 2;
            }
        }
        var duration = TimeSpan.FromSeconds(seconds);
        Console.WriteLine($"RocksDB bench: librocksdb 7.8, {Environment.ProcessorCount} CPUs, dir {root}, {seconds} s per case");
        Console.WriteLine($"{"case",-34} {"ops/s",10} {"p50 us",8} {"p99 us",8} {"extra",-24}");
        bool Selected(string name) => only.Count == 0 || only.Exists(o => name.Contains(o, StringComparison.Ordinal));
        foreach (int dbs in new[] { 1, 3 })
        {
            foreach (int writers in new[] { 1, 16 })
            {
                string name = $"write dbs={dbs} writers={writers}";
                if (Selected($"{name} sync")) Report($"{name} sync", RunSyncWrites(root, dbs, writers, duration));
                if (Selected($"{name} durable")) Report($"{name} durable", RunDurableWrites(root, dbs, writers, duration));
            }
        }
        foreach (int threads in new[] { 1, 2 })
        {
            string name = $"read 4KiB threads={threads}";
            if (Selected(name)) Report(name, RunReads(root, threads, duration));
        }
        return 0;
    }

    private sealed record Result(long Operations, TimeSpan Elapsed, long[] LatenciesTicks, string Extra = "");

    private static void Report(string name, Result result)
    {
        Array.Sort(result.LatenciesTicks);
        double Percentile(double p) => result.LatenciesTicks.Length == 0
            ? 0
            : result.LatenciesTicks[(int)Math.Min(result.LatenciesTicks.Length - 1, p * result.LatenciesTicks.Length)] * 1e6 / Stopwatch.Frequency;
        Console.WriteLine($"{name,-34} {result.Operations / result.Elapsed.TotalSeconds,10:F0} {Percentile(0.50),8:F0} {Percentile(0.99),8:F0} {result.Extra,-24}");
    }

    private static RocksDatabase[] OpenFresh(string root, int count, bool manualWalFlush)
    {
        var dbs = new RocksDatabase[count];
        for (int i = 0; i < count; i++)
        {
            string path = Path.Combine(root, $"db{i}");
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            dbs[i] = RocksDatabase.Open(path, new RocksDbOptions { ManualWalFlush = manualWalFlush }, ["data", "meta"]);
        }
        return dbs;
    }

    private static void FillBatch(WriteBatch batch, RocksDatabase db, int writer, long sequence, byte[] data, byte[] meta)
    {
        Span<byte> key = stackalloc byte[12];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(key, writer);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(key[4..], sequence);
        batch.Clear();
        batch.Put(db.GetColumnFamily("data"), key, data);
        batch.Put(db.GetColumnFamily("meta"), key, meta);
    }

    /// <summary>Latency samples of one writer, kept only inside the measured window.</summary>
    private sealed class Samples
    {
        public readonly List<long> Ticks = new(1 << 16);
    }

    private static Result RunSyncWrites(string root, int dbCount, int writers, TimeSpan duration)
    {
        var dbs = OpenFresh(root, dbCount, manualWalFlush: false);
        var data = new byte[DataBytes];
        var meta = new byte[MetaBytes];
        Random.Shared.NextBytes(data);
        var window = new MeasurementWindow(duration);
        var samples = Enumerable.Range(0, writers).Select(_ => new Samples()).ToArray();
        var threads = new List<Thread>();
        for (int w = 0; w < writers; w++)
        {
            int writer = w;
            // The post-phase action runs once per phase, before any thread is released: all the
            // threads of one writer see the same stop decision and never strand each other.
            var stop = new System.Runtime.CompilerServices.StrongBox<bool>();
            var lockstep = new Barrier(dbCount, _ => stop.Value = window.Done);
            for (int d = 0; d < dbCount; d++)
            {
                int dbIndex = d;
                threads.Add(new Thread(() =>
                {
                    using var batch = new WriteBatch();
                    for (long sequence = 0; ; sequence++)
                    {
                        if (dbCount > 1) lockstep.SignalAndWait();
                        else stop.Value = window.Done;
                        if (stop.Value) break;
                        long start = Stopwatch.GetTimestamp();
                        FillBatch(batch, dbs[dbIndex], writer, sequence, data, meta);
                        dbs[dbIndex].Write(batch, sync: true);
                        if (dbCount > 1) lockstep.SignalAndWait();
                        if (dbIndex == 0) window.Record(samples[writer].Ticks, start);
                    }
                }) { IsBackground = true, Name = $"sync w{writer} db{dbIndex}" });
            }
        }
        threads.ForEach(t => t.Start());
        window.Run();
        threads.ForEach(t => t.Join());
        foreach (var db in dbs) db.Dispose();
        return window.Result(samples);
    }

    private static Result RunDurableWrites(string root, int dbCount, int writers, TimeSpan duration)
    {
        var dbs = OpenFresh(root, dbCount, manualWalFlush: true);
        var durable = dbs.Select(db => new DurableWriter(db)).ToArray();
        var data = new byte[DataBytes];
        var meta = new byte[MetaBytes];
        Random.Shared.NextBytes(data);
        var window = new MeasurementWindow(duration);
        var samples = Enumerable.Range(0, writers).Select(_ => new Samples()).ToArray();
        var tasks = Enumerable.Range(0, writers).Select(writer => Task.Run(async () =>
        {
            var batches = dbs.Select(_ => new WriteBatch()).ToArray();
            var pending = new ValueTask[dbCount];
            for (long sequence = 0; !window.Done; sequence++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int d = 0; d < dbCount; d++)
                {
                    FillBatch(batches[d], dbs[d], writer, sequence, data, meta);
                    pending[d] = durable[d].WriteAsync(batches[d]);
                }
                for (int d = 0; d < dbCount; d++) await pending[d];
                window.Record(samples[writer].Ticks, start);
            }
            foreach (var b in batches) b.Dispose();
        })).ToArray();
        window.Run();
        Task.WaitAll(tasks);
        long writes = durable.Sum(w => w.CompletedWrites);
        long flushes = durable.Sum(w => w.FlushCount);
        foreach (var w in durable) w.Dispose();
        foreach (var db in dbs) db.Dispose();
        return window.Result(samples) with { Extra = $"{(double)writes / flushes:F1} writes/WAL sync" };
    }

    private static Result RunReads(string root, int threadCount, TimeSpan duration)
    {
        const int keys = 20_000;
        var db = OpenFresh(root, 1, manualWalFlush: false)[0];
        var cf = db.GetColumnFamily("data");
        var value = new byte[DataBytes];
        Random.Shared.NextBytes(value);
        using (var batch = new WriteBatch())
        {
            Span<byte> key = stackalloc byte[8];
            for (int i = 0; i < keys; i++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(key, i);
                batch.Put(cf, key, value);
                if (batch.Count == 256)
                {
                    db.Write(batch);
                    batch.Clear();
                }
            }
            db.Write(batch);
        }
        db.Flush();
        db.CompactRange(cf);

        var window = new MeasurementWindow(duration);
        var samples = Enumerable.Range(0, threadCount).Select(_ => new Samples()).ToArray();
        long missing = 0;
        var threads = Enumerable.Range(0, threadCount).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            var buffer = new byte[DataBytes];
            Span<byte> key = stackalloc byte[8];
            while (!window.Done)
            {
                long start = Stopwatch.GetTimestamp();
                System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(key, random.Next(keys));
                if (db.Get(cf, key, buffer, out _) != GetStatus.Found) Interlocked.Increment(ref missing);
                window.Record(samples[t].Ticks, start);
            }
        }) { IsBackground = true }).ToList();
        threads.ForEach(t => t.Start());
        window.Run();
        threads.ForEach(t => t.Join());
        string cacheUsage = $"cache {db.GetIntProperty(RocksDbProperty.BlockCacheUsage) / (1 << 20)} MiB";
        db.Dispose();
        if (missing > 0) throw new InvalidOperationException($"{missing} reads did not find their key");
        return window.Result(samples) with { Extra = cacheUsage };
    }

    /// <summary>A warm-up, then a measured window: operations count (and latencies are kept)
    /// only when they complete inside it.</summary>
    private sealed class MeasurementWindow(TimeSpan duration)
    {
        private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(1);
        private long _startTicks = long.MaxValue;
        private long _endTicks = long.MaxValue;
        private volatile bool _done;

        public bool Done => _done;

        public void Record(List<long> ticks, long startTimestamp)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= Volatile.Read(ref _startTicks) && now < Volatile.Read(ref _endTicks)) ticks.Add(now - startTimestamp);
        }

        public void Run()
        {
            Thread.Sleep(WarmUp);
            long start = Stopwatch.GetTimestamp();
            Volatile.Write(ref _endTicks, start + (long)(duration.TotalSeconds * Stopwatch.Frequency));
            Volatile.Write(ref _startTicks, start);
            Thread.Sleep(duration);
            _done = true;
        }

        public Result Result(Samples[] samples)
        {
            var all = samples.SelectMany(s => s.Ticks).ToArray();
            return new Result(all.Length, duration, all);
        }
    }
}
