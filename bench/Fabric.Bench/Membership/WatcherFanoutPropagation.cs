using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fabric.Core.Map;
using Fabric.Membership.Client;
using Fabric.Membership.Monitor;
using Fabric.Membership.Store;
using Fabric.Proto;
using Fabric.Rpc.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Bench.Membership;

/// <summary>
/// Bench 2: one in-process monitor (MonitorCore + MonitorRunner over RocksDbMapStore, served by an
/// RpcServer on loopback through MonitorService.Bind) and W MapWatchers in the same process, each on
/// its own WatchMap stream (real gRPC over HTTP/2, spread over a few channels = TCP connections).
/// </summary>
/// <remarks>
/// <code>
///  bench (proposer)    monitor (RpcServer)                         W MapWatchers (same process)
///   t0 ProposeChange -->| apply | commit (RocksDB, sync) | publish ->| W channel writes
///                       |  c0        c1                  |          |--> W WatchMap handlers serialize + send
///   t1 <-- reply -------|                                           |--> HTTP/2 --> parse --> MapChanged (arrival_w)
/// </code>
/// Per change: last arrival - t0 ("from call"), last arrival - t1 ("from reply"), and the stages
/// apply (c0 - t0, includes the request's trip), commit (c1 - c0), first delivery (first arrival - c1)
/// and fan-out spread (last arrival - first arrival). The process's CPU time and allocations per change
/// are recorded too: on a shared 2-CPU machine they say more than wall time about the cost per watcher.
/// </remarks>
public sealed class WatcherFanoutPropagation
{
    public sealed record Options(int Watchers, int Connections, int Changes, int Warmup, int MapNodes);

    public sealed record Result(
        Options Options,
        MapCodecCost.Cost Codec,
        LatencySummary FromCallMs,
        LatencySummary FromReplyMs,
        LatencySummary ProposeMs,
        LatencySummary ApplyMs,
        LatencySummary CommitMs,
        LatencySummary FirstDeliveryMs,
        LatencySummary MedianDeliveryMs,
        LatencySummary SpreadMs,
        double CpuMsPerChange,
        double AllocatedKiBPerChange,
        int Gen0,
        int Gen2,
        int Timeouts,
        double SetupSeconds,
        string LoadBefore,
        string LoadAfter);

    public async Task<Result> RunAsync(Options options, CancellationToken cancellationToken)
    {
        var loadBefore = MachineLoad.Describe();
        var setup = Stopwatch.StartNew();
        var dir = Path.Combine(Path.GetTempPath(), "fabric-bench-mon-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        var port = FreeLoopbackPort();
        var address = $"127.0.0.1:{port}";
        var store = new TimedMapStore(RocksDbMapStore.Open(Path.Combine(dir, "mon")));
        var time = TimeProvider.System;
        var core = new MonitorCore(store, new MapHistory(), new FailureDetector(new FailureDetectorOptions(), time), time, NullLogger.Instance);
        // A grace of a day: the padding nodes never heartbeat, and the detector must not change the map mid-run.
        var settings = new ClusterSettings { HeartbeatGraceMs = 86_400_000, HeartbeatIntervalMs = 500, DownOutIntervalMs = 86_400_000 };
        var runner = new MonitorRunner("mon", address, core,
            () => MapTransactions.Genesis("fanout", Guid.NewGuid().ToString(), settings, new MonitorSet { Names = { "mon" }, Store = "embedded" }, time.GetUtcNow().ToUnixTimeMilliseconds()),
            null, time, NullLogger.Instance);
        var serverOptions = new RpcServerOptions();
        serverOptions.Endpoints.Add(address);
        var server = new RpcServerBuilder(serverOptions).AddService(MonitorService.Descriptor, b => MonitorService.Bind(b, runner)).Build();
        var clients = Enumerable.Range(0, options.Connections).Select(_ => new MonitorClient([address])).ToArray();
        var proposer = new MonitorClient([address]);
        var watchers = new List<MapWatcher>();
        try
        {
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            runner.Start();
            await runner.Ready.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            if (options.MapNodes > 0) await proposer.ProposeAsync(PaddingNodes(options.MapNodes), cancellationToken).ConfigureAwait(false);

            var total = options.Warmup + options.Changes;
            var arrivals = new long[options.Watchers][];
            var counts = new int[total];
            var allArrived = Enumerable.Range(0, total).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            long baseEpoch = long.MaxValue; // set before the first change; until then handlers record nothing
            for (int w = 0; w < options.Watchers; w++)
            {
                var slot = arrivals[w] = new long[total];
                var watcher = new MapWatcher(clients[w % clients.Length], NullLogger.Instance);
                watcher.MapChanged += map =>
                {
                    var index = (long)map.Epoch - Volatile.Read(ref baseEpoch) - 1;
                    if (index < 0 || index >= total) return;
                    slot[index] = Stopwatch.GetTimestamp();
                    if (Interlocked.Increment(ref counts[index]) == options.Watchers) allArrived[index].TrySetResult();
                };
                watchers.Add(watcher);
                watcher.Start();
            }
            var current = core.Current!;
            await WaitAllWatchingAsync(core, watchers, current.Epoch, TimeSpan.FromSeconds(180), cancellationToken).ConfigureAwait(false);
            var codec = MapCodecCost.Measure(current);
            setup.Stop();

            Volatile.Write(ref baseEpoch, (long)current.Epoch);
            var index0 = PoolFlip.FirstIndexFor(current);
            var fromCall = new List<double>();
            var fromReply = new List<double>();
            var propose = new List<double>();
            var apply = new List<double>();
            var commit = new List<double>();
            var first = new List<double>();
            var median = new List<double>();
            var spread = new List<double>();
            var timeouts = 0;
            var process = Process.GetCurrentProcess();
            TimeSpan cpuStart = default;
            long allocStart = 0;
            int gen0Start = 0, gen2Start = 0;
            for (int n = 0; n < total; n++)
            {
                if (n == options.Warmup)
                {
                    process.Refresh();
                    cpuStart = process.TotalProcessorTime;
                    allocStart = GC.GetTotalAllocatedBytes(precise: false);
                    gen0Start = GC.CollectionCount(0);
                    gen2Start = GC.CollectionCount(2);
                }
                var t0 = Stopwatch.GetTimestamp();
                var reply = await proposer.ProposeAsync(PoolFlip.Change(index0 + n), cancellationToken).ConfigureAwait(false);
                var t1 = Stopwatch.GetTimestamp();
                if (reply.Epoch != current.Epoch + 1 + (ulong)n) throw new InvalidOperationException($"change {n} made epoch {reply.Epoch}, expected {current.Epoch + 1 + (ulong)n}: something else changed the map");
                var c0 = store.LastCommitStartTicks;
                var c1 = store.LastCommitEndTicks;
                var arrived = await Task.WhenAny(allArrived[n].Task, Task.Delay(TimeSpan.FromSeconds(30), cancellationToken)).ConfigureAwait(false);
                if (arrived != allArrived[n].Task)
                {
                    timeouts++;
                    Console.Error.WriteLine($"membership bench: change {n}: only {Volatile.Read(ref counts[n])}/{options.Watchers} watchers had epoch {reply.Epoch} after 30 s");
                    continue;
                }
                if (n < options.Warmup) continue;
                var times = new long[options.Watchers];
                for (int w = 0; w < options.Watchers; w++) times[w] = arrivals[w][n];
                Array.Sort(times);
                fromCall.Add(Ms(times[^1] - t0));
                fromReply.Add(Ms(times[^1] - t1));
                propose.Add(Ms(t1 - t0));
                apply.Add(Ms(c0 - t0));
                commit.Add(Ms(c1 - c0));
                first.Add(Ms(times[0] - c1));
                median.Add(Ms(times[times.Length / 2] - c1));
                spread.Add(Ms(times[^1] - times[0]));
            }
            process.Refresh();
            var measured = Math.Max(1, options.Changes);
            return new Result(options, codec,
                LatencySummary.Of(fromCall), LatencySummary.Of(fromReply), LatencySummary.Of(propose), LatencySummary.Of(apply), LatencySummary.Of(commit),
                LatencySummary.Of(first), LatencySummary.Of(median), LatencySummary.Of(spread),
                (process.TotalProcessorTime - cpuStart).TotalMilliseconds / measured,
                (GC.GetTotalAllocatedBytes(precise: false) - allocStart) / 1024.0 / measured,
                GC.CollectionCount(0) - gen0Start, GC.CollectionCount(2) - gen2Start,
                timeouts, setup.Elapsed.TotalSeconds, loadBefore, MachineLoad.Describe());
        }
        finally
        {
            foreach (var watcher in watchers) await watcher.DisposeAsync().ConfigureAwait(false);
            foreach (var client in clients) client.Dispose();
            proposer.Dispose();
            await runner.DisposeAsync().ConfigureAwait(false);
            await server.DisposeAsync().ConfigureAwait(false);
            await store.DisposeAsync().ConfigureAwait(false);
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Nodes that only make the map the size of a larger cluster's (they never heartbeat: the
    /// grace is a day). Their addresses are loopback strings nobody connects to.</summary>
    private static MapTransaction PaddingNodes(int count)
    {
        var tx = new MapTransaction { Reason = $"membership bench: {count} padding nodes" };
        for (int i = 0; i < count; i++)
        {
            var ip = $"127.1.{i / 250}.{i % 250 + 1}";
            tx.Changes.Add(new MapChange
            {
                NodeUpsert = new NodeUpsert
                {
                    Node = new NodeInfo
                    {
                        Name = $"pad{i}",
                        GrpcAddress = $"{ip}:7000",
                        DataAddress = ip,
                        StorageAddress = $"{ip}:6800",
                        FailureDomain = $"rack{i % 8}/pad{i}",
                        CapacityBytes = 4UL << 40,
                        MemoryBytes = 256UL << 30,
                        Cpus = 64,
                        Version = "bench",
                    },
                },
            });
        }
        return tx;
    }

    private static async Task WaitAllWatchingAsync(MonitorCore core, List<MapWatcher> watchers, ulong epoch, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (core.History.WatcherCount < watchers.Count || watchers.Any(w => (w.Current?.Epoch ?? 0) < epoch))
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"after {timeout.TotalSeconds:0} s only {core.History.WatcherCount}/{watchers.Count} watch streams were open and "
                    + $"{watchers.Count(w => (w.Current?.Epoch ?? 0) >= epoch)} watchers had epoch {epoch}");
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
