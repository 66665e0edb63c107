using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fabric.Client.Admin;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.Core.Map;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Rpc.Client;

namespace Fabric.Bench.DataServices;

/// <summary>
/// <c>dataservices --monitor ADDR --golden NAME --plain NAME [--clones 5] [--copyup-objects 32]
/// [--seconds 10] [--skip-fill]</c>, against a running cluster (bench/dataservices-bench.sh starts one):
/// fills the golden volume, snapshots and protects it, then measures clone creation time (map change
/// until the client's map has the clone; no data is copied), the cost of the first 4 KiB write to a
/// clone's object (copy-up of the parent's object) against later writes, deep and light scrub
/// throughput of the whole pool, and 4 KiB random write/read IOPS with and without a deep scrub running.
/// Prints one JSON document on stdout and a markdown table on stderr.
/// </summary>
public static class DataServicesBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        Dictionary<string, string> options = BenchCluster.Options(args);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(30));
        CancellationToken ct = cancel.Token;
        await using BenchCluster cluster = await BenchCluster.ConnectAsync(options["monitor"], $"client.bench.{Environment.ProcessId}", ct);
        string goldenName = options.GetValueOrDefault("golden", "golden");
        string plainName = options.GetValueOrDefault("plain", "plain");
        int clones = int.Parse(options.GetValueOrDefault("clones", "5"));
        int copyUpObjects = int.Parse(options.GetValueOrDefault("copyup-objects", "32"));
        var seconds = TimeSpan.FromSeconds(double.Parse(options.GetValueOrDefault("seconds", "10")));
        var result = new JsonObject();

        VolumeClient golden = cluster.Open(goldenName);
        VolumeClient plain = cluster.Open(plainName);
        if (!options.ContainsKey("skip-fill"))
        {
            Log($"filling {goldenName} and {plainName} ({golden.SizeBytes >> 20} MiB, {plain.SizeBytes >> 20} MiB)");
            result["fill_golden_mib_s"] = await FillAsync(golden, 1, ct);
            result["fill_plain_mib_s"] = await FillAsync(plain, 2, ct);
        }

        // Snapshot and protect the golden image, then clone it.
        VolumeInfo info = cluster.Map.FindVolume(goldenName)!;
        if (info.Snapshots.All(s => s.Name != "base"))
        {
            await cluster.ApplyAsync(ct, new MapChange { SnapCreate = new SnapCreate { Volume = goldenName, Snap = "base" } });
            await cluster.ApplyAsync(ct, new MapChange { SnapProtect = new SnapProtect { Volume = goldenName, Snap = "base", Protected = true } });
        }
        info = cluster.Map.FindVolume(goldenName)!;
        ulong snapId = info.Snapshots.Single(s => s.Name == "base").Id;
        var cloneMs = new List<double>();
        var cloneNames = new List<string>();
        for (int i = 0; i < clones; i++)
        {
            string name = $"{goldenName}-clone-{Environment.ProcessId}-{i}";
            long start = Stopwatch.GetTimestamp();
            await cluster.ApplyAsync(ct, new MapChange
            {
                VolumeCreate = new VolumeCreate { Volume = new VolumeInfo { Name = name, PoolId = info.PoolId, SizeBytes = info.SizeBytes, ObjectSizeBytes = info.ObjectSizeBytes, Parent = new ParentRef { VolumeId = info.Id, SnapId = snapId } } },
            });
            cloneMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            cloneNames.Add(name);
        }
        (VolumeUsageReply cloneUsage, _) = await StorageAdmin.VolumeUsageAsync(cluster.Map, cluster.Map.FindVolume(cloneNames[0])!, ct);
        result["clone_create_ms"] = Summary(cloneMs);
        result["clone_objects_after_create"] = cloneUsage.Objects;
        Log($"clone creation: median {Median(cloneMs):0.0} ms over {clones} clones; objects in the new clone: {cloneUsage.Objects}");

        // First write to a clone's object (copy-up) against later writes and against the parent.
        VolumeClient clone = cluster.Open(cloneNames[0]);
        var random = new Random(5);
        long objects = (long)(info.SizeBytes / info.ObjectSizeBytes);
        long[] picked = Enumerable.Range(0, (int)objects).OrderBy(_ => random.Next()).Take(Math.Min(copyUpObjects, (int)objects)).Select(i => (long)i).ToArray();
        byte[] block = new byte[4096];
        random.NextBytes(block);
        var first = new List<double>();
        var second = new List<double>();
        var parentFirst = new List<double>();
        var parentSecond = new List<double>();
        foreach (long index in picked)
        {
            long offset = index * info.ObjectSizeBytes + random.Next((int)(info.ObjectSizeBytes / 4096)) * 4096L;
            first.Add(await TimeWriteAsync(clone, offset, block, ct));
            second.Add(await TimeWriteAsync(clone, offset + 4096 < (index + 1) * info.ObjectSizeBytes ? offset + 4096 : offset - 4096, block, ct));
            parentFirst.Add(await TimeWriteAsync(golden, offset, block, ct));
            parentSecond.Add(await TimeWriteAsync(golden, offset, block, ct));
        }
        result["clone_first_write_us"] = Summary(first);
        result["clone_later_write_us"] = Summary(second);
        result["parent_first_write_after_snapshot_us"] = Summary(parentFirst);
        result["parent_later_write_us"] = Summary(parentSecond);
        Log($"4 KiB write to a clone object: first (copy-up) p50 {Median(first):0} us, later p50 {Median(second):0} us; parent after snapshot: first p50 {Median(parentFirst):0} us, later {Median(parentSecond):0} us");

        // Scrub throughput of the whole pool (each PG at its primary, one at a time per OSD).
        result["deep_scrub"] = await ScrubAllAsync(cluster, info.PoolId, ScrubKind.DeepScrub, ct);
        result["scrub"] = await ScrubAllAsync(cluster, info.PoolId, ScrubKind.Scrub, ct);

        // Client IOPS with and without a deep scrub running.
        foreach (string rw in new[] { "write", "read" })
        {
            var bench = new VolumeBenchmarkOptions { ReadWrite = rw, Pattern = "rand", BlockSize = 4096, QueueDepth = 16, Duration = seconds };
            VolumeBenchmarkResult quiet = await VolumeBenchmark.RunAsync(plain, bench, ct);
            Task<JsonObject> scrubbing = ScrubAllAsync(cluster, info.PoolId, ScrubKind.DeepScrub, ct);
            VolumeBenchmarkResult busy = await VolumeBenchmark.RunAsync(plain, bench, ct);
            JsonObject during = await scrubbing;
            result[$"rand{rw}_4k_qd16"] = new JsonObject
            {
                ["iops_without_scrub"] = Math.Round(quiet.Iops),
                ["iops_during_deep_scrub"] = Math.Round(busy.Iops),
                ["ratio"] = Math.Round(busy.Iops / Math.Max(1, quiet.Iops), 3),
                ["p99_us_without"] = Math.Round(quiet.P99Micros),
                ["p99_us_during"] = Math.Round(busy.P99Micros),
                ["scrub_during_bench"] = during,
            };
            Log($"4K rand{rw} QD16: {quiet.Iops:0} IOPS quiet, {busy.Iops:0} IOPS while deep scrubbing ({busy.Iops / Math.Max(1, quiet.Iops):P0})");
        }

        foreach (string name in cloneNames)
        {
            await cluster.ApplyAsync(ct, new MapChange { VolumeDelete = new VolumeDelete { Name = name } });
        }
        Console.Out.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private static async Task<double> FillAsync(VolumeClient volume, int seed, CancellationToken ct)
    {
        const int Chunk = 4 << 20;
        var random = new Random(seed);
        byte[][] buffers = Enumerable.Range(0, 8).Select(_ =>
        {
            byte[] b = new byte[Chunk];
            random.NextBytes(b);
            return b;
        }).ToArray();
        long start = Stopwatch.GetTimestamp();
        var running = new List<Task<BlockIoStatus>>();
        int n = 0;
        for (long offset = 0; offset < volume.SizeBytes; offset += Chunk)
        {
            running.Add(volume.WriteAsync(offset, buffers[n++ % buffers.Length].AsMemory(0, (int)Math.Min(Chunk, volume.SizeBytes - offset)), false, ct).AsTask());
            if (running.Count >= 8)
            {
                Task<BlockIoStatus> done = await Task.WhenAny(running);
                running.Remove(done);
                Require(await done, "fill");
            }
        }
        foreach (BlockIoStatus status in await Task.WhenAll(running))
        {
            Require(status, "fill");
        }
        return Math.Round(volume.SizeBytes / (double)(1 << 20) / Stopwatch.GetElapsedTime(start).TotalSeconds, 1);
    }

    private static async Task<double> TimeWriteAsync(VolumeClient volume, long offset, byte[] block, CancellationToken ct)
    {
        long start = Stopwatch.GetTimestamp();
        Require(await volume.WriteAsync(offset, block, false, ct), "write");
        return Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }

    /// <summary>Scrubs every PG of the pool at its primary, all PGs requested at once (each OSD runs one at a time).</summary>
    private static async Task<JsonObject> ScrubAllAsync(BenchCluster cluster, uint pool, ScrubKind kind, CancellationToken ct)
    {
        ClusterMap map = cluster.Map;
        PoolInfo info = map.FindPool(pool)!;
        (ulong bytesBefore, ulong objectsBefore) = await ScrubCountersAsync(map, ct);
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, (int)info.PgCount).Select(seed => StorageAdmin.ScrubAndWaitAsync(map, new PgId(pool, (uint)seed), kind, ct)));
        double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        (ulong bytesAfter, ulong objectsAfter) = await ScrubCountersAsync(map, ct);
        double mib = (bytesAfter - bytesBefore) / (double)(1 << 20);
        Log($"{kind} of {info.PgCount} PGs: {elapsed:0.0} s, {mib:0} MiB read on all replicas ({mib / elapsed:0} MiB/s), {objectsAfter - objectsBefore} object copies");
        return new JsonObject
        {
            ["seconds"] = Math.Round(elapsed, 2),
            ["mib_read_all_replicas"] = Math.Round(mib),
            ["mib_s_all_replicas"] = Math.Round(mib / elapsed, 1),
            ["mib_s_per_copy"] = Math.Round(mib / Math.Max(1, info.Replicas) / elapsed, 1),
            ["object_copies"] = objectsAfter - objectsBefore,
        };
    }

    private static async Task<(ulong Bytes, ulong Objects)> ScrubCountersAsync(ClusterMap map, CancellationToken ct)
    {
        ulong bytes = 0, objects = 0;
        foreach (NodeInfo node in map.Nodes.Where(n => n.State == NodeState.Up))
        {
            using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions());
            OsdStatusReply status = await channel.UnaryAsync(StorageAdmin.OsdStatus, new OsdStatusRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(10), ct));
            bytes += status.ScrubbedBytes;
            objects += status.ScrubbedObjects;
        }
        return (bytes, objects);
    }

    private static JsonObject Summary(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return new JsonObject
        {
            ["n"] = sorted.Count,
            ["min"] = Math.Round(sorted[0], 1),
            ["p50"] = Math.Round(Median(sorted), 1),
            ["p99"] = Math.Round(sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(0.99 * sorted.Count))], 1),
            ["max"] = Math.Round(sorted[^1], 1),
        };
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[sorted.Count / 2];
    }

    private static void Require(BlockIoStatus status, string what)
    {
        if (status != BlockIoStatus.Ok)
        {
            throw new InvalidOperationException($"{what} failed: {status}");
        }
    }

    private static void Log(string line) => Console.Error.WriteLine("dataservices: " + line);
}
