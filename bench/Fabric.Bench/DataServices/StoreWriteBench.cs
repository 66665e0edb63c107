using System.Diagnostics;
using System.Runtime.InteropServices;
using Fabric.Storage.Store;

namespace Fabric.Bench.DataServices;

/// <summary>
/// <c>store-write [--store rocksdb|memory] [--dir DIR] [--bs 4M] [--count 64]</c>: the OSD's local cost
/// of one write without the network: building the batch (checksums, copies), applying it to the store
/// (RocksDB memtable and WAL buffer, on the OSD's event loop) and making it durable (WAL flush and
/// fdatasync, on the store's writer thread). Prints the median of each stage and the process CPU time
/// per write, so effects are visible on a loaded machine.
/// </summary>
public static class StoreWriteBench
{
    public static int Run(string[] args)
    {
        Dictionary<string, string> options = BenchCluster.Options(args);
        string kind = options.GetValueOrDefault("store", "rocksdb");
        string dir = options.GetValueOrDefault("dir", Path.Combine(Path.GetTempPath(), "fabric-store-write-" + Environment.ProcessId));
        int bs = options.GetValueOrDefault("bs", "4M") switch { var t when t.EndsWith('M') => int.Parse(t[..^1]) << 20, var t when t.EndsWith('K') => int.Parse(t[..^1]) << 10, var t => int.Parse(t) };
        int count = int.Parse(options.GetValueOrDefault("count", "64"));
        using IObjectStore store = kind == "memory" ? new MemoryObjectStore(autoSync: true) : RocksDbObjectStore.Open(dir);
        byte[] data = new byte[bs];
        new Random(1).NextBytes(data);
        var build = new List<double>();
        var apply = new List<double>();
        var durable = new List<double>();
        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var buildCpu = new List<double>();
        var applyCpu = new List<double>();
        for (int i = 0; i < count; i++)
        {
            double c0 = ThreadCpuMs();
            string name = $"v1.{i % 256:x16}";
            long t0 = Stopwatch.GetTimestamp();
            IStoreBatch batch = store.CreateBatch();
            ObjectBlocks.AddWrite(store, batch, 1, name, 0, data.Length, data, zero: false);
            ObjectBlocks.WriteMeta(batch, 1, name, new ObjectMeta((ulong)i + 1, (ulong)data.Length));
            long t1 = Stopwatch.GetTimestamp();
            double c1 = ThreadCpuMs();
            using var done = new ManualResetEventSlim();
            store.Write(batch, done.Set);
            long t2 = Stopwatch.GetTimestamp();
            double c2 = ThreadCpuMs();
            buildCpu.Add(c1 - c0);
            applyCpu.Add(c2 - c1);
            done.Wait();
            long t3 = Stopwatch.GetTimestamp();
            build.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            apply.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            durable.Add(Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
        }
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        Console.WriteLine($"store-write {kind} bs={bs} x{count}: build p50 {Median(build):0.00} ms, apply p50 {Median(apply):0.00} ms, durable p50 {Median(durable):0.00} ms; process CPU {cpu.TotalMilliseconds / count:0.00} ms/write; "
            + $"CPU of the writing thread: build {Median(buildCpu):0.00} ms, apply {Median(applyCpu):0.00} ms");
        if (kind != "memory" && Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
        return 0;
    }

    private static double Median(List<double> values) => values.OrderBy(v => v).ElementAt(values.Count / 2);

    /// <summary>CPU time of the calling thread (getrusage RUSAGE_THREAD): unaffected by other load on the machine.</summary>
    internal static double ThreadCpuMs()
    {
        getrusage(1, out RUsage usage);
        return (usage.UserSec + usage.SystemSec) * 1000.0 + (usage.UserUsec + usage.SystemUsec) / 1000.0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSec;
        public long UserUsec;
        public long SystemSec;
        public long SystemUsec;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NVcsw, NIvcsw;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out RUsage usage);
}

/// <summary><c>rocks-batch</c>: how rocksdb_write's cost depends on the value size for 4 MiB of data (design probe).</summary>
public static class RocksBatchProbe
{
    public static int Run(string[] args)
    {
        string dir = Path.Combine("/var/tmp", "fabric-rocks-probe-" + Environment.ProcessId);
        foreach (int valueSize in new[] { 4096, 16384, 65536, 262144 })
        {
            foreach (bool blob in new[] { false, true })
            {
                var options = new Fabric.RocksDb.RocksDbOptions { ManualWalFlush = true, Compression = Fabric.RocksDb.RocksDbCompression.None, WriteBufferSizeBytes = 64L << 20, LogLevel = Fabric.RocksDb.RocksDbLogLevel.Warn,
                    AllowConcurrentMemtableWrite = !args.Contains("--serial-memtable") };
                using var db = Fabric.RocksDb.RocksDatabase.Open(dir + (blob ? "b" : "") + valueSize, options);
                byte[] value = new byte[valueSize];
                new Random(1).NextBytes(value);
                var times = new List<double>();
                for (int round = 0; round < 40; round++)
                {
                    using var batch = new Fabric.RocksDb.WriteBatch();
                    for (int i = 0; i < (4 << 20) / valueSize; i++)
                    {
                        byte[] key = System.Text.Encoding.ASCII.GetBytes($"D{round % 16:x4}{i:x8}");
                        batch.Put(db.DefaultColumnFamily, key, value);
                    }
                    long t = Stopwatch.GetTimestamp();
                    db.Write(batch);
                    times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                }
                Console.WriteLine($"value {valueSize}: rocksdb_write of 4 MiB p50 {times.OrderBy(x => x).ElementAt(20):0.00} ms");
                break;
            }
        }
        foreach (string d in Directory.GetDirectories("/var/tmp", "fabric-rocks-probe-" + Environment.ProcessId + "*"))
        {
            Directory.Delete(d, true);
        }
        return 0;
    }
}
