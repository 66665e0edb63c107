using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Fabric.Bench.Storage;

/// <summary>
/// `dotnet run -c Release --project bench/Fabric.Bench -- sync-probe [DIR] [WRITERS] [SYNCS]`: what a 4 KiB write +
/// fdatasync costs on this disk when the file grows (an append: what RocksDB's WAL does) and when it overwrites
/// blocks written before (what the store journal does), with WRITERS threads (default 1 and 3: the three OSDs of a
/// local cluster share the disk) each on its own file. Prints p50/p90/p99 in µs per case. The reason for
/// node/Fabric.Storage/Store/StoreJournal.cs.
/// </summary>
public static class SyncProbe
{
    public static int Run(string[] args)
    {
        string dir = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "fabric-sync-probe");
        int[] writers = args.Length > 1 ? [int.Parse(args[1])] : [1, 3];
        int syncs = args.Length > 2 ? int.Parse(args[2]) : 2000;
        Directory.CreateDirectory(dir);
        try
        {
            Console.WriteLine("| case | writers | p50 µs | p90 µs | p99 µs |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            foreach (bool overwrite in new[] { false, true })
            {
                foreach (int n in writers)
                {
                    var latencies = new List<double>[n];
                    var threads = Enumerable.Range(0, n).Select(i => new Thread(() => latencies[i] = Writer(Path.Combine(dir, $"f{i}"), overwrite, syncs))).ToList();
                    threads.ForEach(t => t.Start());
                    threads.ForEach(t => t.Join());
                    var all = latencies.SelectMany(l => l).Order().ToArray();
                    Console.WriteLine($"| {(overwrite ? "overwrite" : "append")} | {n} | {all[all.Length / 2]:F0} | {all[all.Length * 9 / 10]:F0} | {all[all.Length * 99 / 100]:F0} |");
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        return 0;
    }

    private static List<double> Writer(string path, bool overwrite, int syncs)
    {
        using var file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        int fd = (int)file.DangerousGetHandle();
        var block = new byte[4096];
        Random.Shared.NextBytes(block);
        if (overwrite)
        {
            for (int i = 0; i < syncs; i++)
            {
                RandomAccess.Write(file, block, (long)i * block.Length);
            }
            fsync(fd);
        }
        var latencies = new List<double>(syncs);
        for (int i = 0; i < syncs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            RandomAccess.Write(file, block, (long)i * block.Length);
            fdatasync(fd);
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        return latencies;
    }

    [DllImport("libc")]
    private static extern int fdatasync(int fd);

    [DllImport("libc")]
    private static extern int fsync(int fd);
}
