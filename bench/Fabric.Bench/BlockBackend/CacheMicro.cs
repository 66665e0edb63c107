using System.Diagnostics;
using Fabric.BlockBackend.Cache;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Io;

namespace Fabric.Bench.BlockBackend;

/// <summary>
/// `blk-cache-micro [--blocks N] [--passes N]`: what one 4 KiB read costs in process, straight from a volume vs
/// through the FASTER block cache (all hits), for a memory volume and a file volume (page cache). The cache pays
/// off only when the volume behind it is slower than this (a replicated volume: a network round trip per miss).
/// </summary>
public static class CacheMicro
{
    public static int Run(string[] args)
    {
        int blocks = 16384, passes = 4;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--blocks") blocks = int.Parse(args[i + 1]);
            if (args[i] == "--passes") passes = int.Parse(args[i + 1]);
        }
        string dir = Path.Combine(Path.GetTempPath(), "blk-cache-micro-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            using var cache = new BlockCache(new BlockCacheOptions { Enabled = true, MemoryBytes = 512L << 20, Directory = Path.Combine(dir, "c") });
            var memory = new MemoryBlockVolume("m", (long)blocks * 4096);
            var file = FileBlockVolume.Create(Path.Combine(dir, "f.img"), (long)blocks * 4096);
            Console.WriteLine("| volume | direct ns/read | cached ns/read (hits) | cached / direct |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var (name, inner) in new (string, IBlockVolume)[] { ("memory", memory), ("file", file) })
            {
                var cached = new CachedBlockVolume(inner, cache, ownsInner: false);
                var buffer = new byte[4096];
                for (int b = 0; b < blocks; b++)
                {
                    buffer[0] = (byte)b;
                    cached.WriteAsync(b * 4096L, buffer, false, default).AsTask().Wait(); // write-through fills the cache
                }
                double direct = Measure(inner, blocks, passes, buffer);
                double viaCache = Measure(cached, blocks, passes, buffer);
                Console.WriteLine($"| {name} | {direct:F0} | {viaCache:F0} | {viaCache / direct:F2} |");
            }
            Console.WriteLine($"cache hits {cache.Hits}, misses {cache.Misses}");
            file.DisposeAsync().AsTask().Wait();
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double Measure(IBlockVolume volume, int blocks, int passes, byte[] buffer)
    {
        var sw = Stopwatch.StartNew();
        for (int p = 0; p < passes; p++)
        {
            for (int b = 0; b < blocks; b++)
            {
                var t = volume.ReadAsync(b * 4096L, buffer, default);
                if (!t.IsCompleted)
                {
                    t.AsTask().Wait();
                }
            }
        }
        return sw.Elapsed.TotalNanoseconds / ((double)blocks * passes);
    }
}
