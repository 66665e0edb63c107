using System.Diagnostics;
using System.Runtime.InteropServices;
using Fabric.Core.Io;
using System.Net;
using System.Text.Json;
using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;

namespace Fabric.Bench.Storage;

/// <summary>
/// The Fabric side of bench/storage-compare.sh until the node daemon hosts OSDs:
/// <c>storage-host --osd N --dir DIR</c> runs one OSD (RocksDB store, real TCP on 127.0.0.N) with a
/// static map of <c>--nodes</c> OSDs and one volume; <c>storage-bench --rw write --pattern rand --bs 4096
/// --qd 16 --seconds 10</c> runs <see cref="VolumeBenchmark"/> against it and prints one JSON line.
/// Both sides compute the same map from the same arguments.
/// </summary>
public static class StorageBench
{
    private const string VolumeName = "bench";

    public static async Task<int> RunAsync(string mode, string[] args)
    {
        var options = Parse(args);
        int nodes = int.Parse(options.GetValueOrDefault("nodes", "3"));
        int port = int.Parse(options.GetValueOrDefault("port", "7480"));
        uint pgs = uint.Parse(options.GetValueOrDefault("pgs", "128"));
        long volumeBytes = long.Parse(options.GetValueOrDefault("volume-mib", "1024")) << 20;
        ClusterMap map = StaticMap(nodes, port, pgs, volumeBytes);
        return mode switch
        {
            "storage-host" => await HostAsync(map, int.Parse(options["osd"]), options["dir"], port, options.GetValueOrDefault("store", "rocksdb")),
            "storage-bench" => await BenchAsync(map, options),
            _ => 2,
        };
    }

    public static ClusterMap StaticMap(int nodes, int port, uint pgCount, long volumeBytes)
    {
        var map = new ClusterMap { Epoch = 1, ClusterName = "bench", Fsid = "bench" };
        for (int i = 1; i <= nodes; i++)
        {
            map.Nodes.Add(new NodeInfo
            {
                Id = (uint)i, Name = $"n{i}", FailureDomain = $"host{i}", Weight = 1, State = NodeState.Up, In = true,
                Incarnation = 1, StorageAddress = $"127.0.0.{i}:{port}",
            });
        }
        map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = 3, MinReplicas = 2, PgCount = pgCount, FailureDomain = "host" });
        map.Volumes.Add(new VolumeInfo { Id = 1, Name = VolumeName, PoolId = 1, SizeBytes = (ulong)volumeBytes, ObjectSizeBytes = 4 << 20 });
        map.NextVolumeId = 1;
        return map;
    }

    private static async Task<int> HostAsync(ClusterMap map, int osd, string dir, int port, string storeKind)
    {
        // "memory" isolates the data path from the disk when profiling.
        using IObjectStore store = storeKind == "memory" ? new MemoryObjectStore(autoSync: true) : RocksDbObjectStore.Open(Path.Combine(dir, $"osd.{osd}"));
        await using var host = new OsdHost(osd, store, new IPEndPoint(IPAddress.Parse($"127.0.0.{osd}"), port));
        await host.StartAsync();
        host.OnMap(map);
        Console.WriteLine($"osd.{osd} ready on {host.LocalEndpoint}");
        var stop = new TaskCompletionSource();
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        await stop.Task;
        await host.DisposeAsync();
        return 0;
    }

    private static async Task<int> BenchAsync(ClusterMap map, Dictionary<string, string> options)
    {
        var benchOptions = new VolumeBenchmarkOptions
        {
            ReadWrite = options.GetValueOrDefault("rw", "write"),
            Pattern = options.GetValueOrDefault("pattern", "rand"),
            BlockSize = ParseSize(options.GetValueOrDefault("bs", "4K")),
            QueueDepth = int.Parse(options.GetValueOrDefault("qd", "16")),
            Duration = TimeSpan.FromSeconds(double.Parse(options.GetValueOrDefault("seconds", "10"))),
        };
        await using var client = new ClusterClient(new StaticMapSource(map), $"client.bench.{Environment.ProcessId}");
        VolumeClient volume = VolumeClient.Open(client, VolumeName, out string? error, maxInFlight: 256) ?? throw new InvalidOperationException(error);
        // Wait until the cluster serves I/O (PGs peered): one write per stripe of the first objects.
        var ready = Stopwatch.StartNew();
        byte[] probe = new byte[4096];
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            if (await volume.ReadAsync(0, probe, cts.Token) != BlockIoStatus.Ok)
            {
                Console.Error.WriteLine("storage-bench: cluster not ready");
                return 1;
            }
        }
        if (options.ContainsKey("probe"))
        {
            // Latency of single sequential reads spread over the volume (diagnostics).
            for (int i = 0; i < 20; i++)
            {
                var sw = Stopwatch.StartNew();
                BlockIoStatus s = await volume.ReadAsync((long)i * 4 * 1048576, probe, default);
                Console.WriteLine($"probe {i}: {s} {sw.Elapsed.TotalMilliseconds:F2} ms");
            }
        }
        VolumeBenchmarkResult result = await VolumeBenchmark.RunAsync(volume, benchOptions);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            rw = benchOptions.ReadWrite, pattern = benchOptions.Pattern, bs = benchOptions.BlockSize, qd = benchOptions.QueueDepth,
            iops = Math.Round(result.Iops, 1), mibps = Math.Round(result.MiBPerSecond, 1),
            p50_us = Math.Round(result.P50Micros, 1), p99_us = Math.Round(result.P99Micros, 1), p999_us = Math.Round(result.P999Micros, 1),
            ops = result.Operations, errors = result.Errors, ready_ms = ready.ElapsedMilliseconds,
        }));
        return result.Errors == 0 ? 0 : 1;
    }

    private static int ParseSize(string text)
    {
        text = text.Trim().ToUpperInvariant();
        int factor = text.EndsWith('K') ? 1024 : text.EndsWith('M') ? 1 << 20 : 1;
        return int.Parse(factor == 1 ? text : text[..^1]) * factor;
    }

    private static Dictionary<string, string> Parse(string[] args)
    {
        var result = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            result[args[i].TrimStart('-')] = args[i + 1];
        }
        return result;
    }
}
