using System.Diagnostics;
using System.Globalization;
using Fabric.Proto;
using Fabric.Proto.Etcd;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Server;
using Fabric.Rpc.Streams;

namespace Fabric.Bench.Rpc;

/// <summary>
/// Fabric.Rpc on loopback (Kestrel h2c server and HttpClient channel in one process, one HTTP/2
/// connection unless a stream limit forces a second): unary calls/s and latency at 1 and 16 in flight,
/// server-streaming messages/s (small and 4 KiB), bidi round-trip latency. Prints a markdown table.
/// Run: dotnet run -c Release --project bench/Fabric.Bench -- rpc [--quick]
/// The contracts are the project's own (fabric.Monitor, etcdserverpb.Lease) so the bench needs no
/// extra .proto; the handlers do no work, so this is the transport's cost.
/// </summary>
public static class RpcLoopbackBenchmark
{
    private static readonly RpcMethod<HeartbeatRequest, HeartbeatReply> Heartbeat =
        RpcMethod.From<HeartbeatRequest, HeartbeatReply>(MonitorReflection.Descriptor, "fabric.Monitor", "Heartbeat");

    private static readonly RpcMethod<WatchMapRequest, ClusterMap> WatchMap =
        RpcMethod.From<WatchMapRequest, ClusterMap>(MonitorReflection.Descriptor, "fabric.Monitor", "WatchMap");

    private static readonly RpcMethod<WatchRequest, WatchResponse> Watch =
        RpcMethod.From<WatchRequest, WatchResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Watch", "Watch");

    private static readonly RpcMethod<LeaseKeepAliveRequest, LeaseKeepAliveResponse> KeepAlive =
        RpcMethod.From<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Lease", "LeaseKeepAlive");

    public static async Task<int> RunAsync(string[] args)
    {
        bool quick = args.Contains("--quick");
        int scale = quick ? 10 : 1;
        await using RpcServer server = await StartServerAsync();
        using var channel = new RpcChannel($"127.0.0.1:{server.GrpcEndpoints[0].Port}");

        // Warm-up: every path once (connection, JIT and tiered PGO), so no case pays for another's start.
        await MeasureAsync(channel, server.GrpcEndpoints[0].Port, scale * 5, []);
        var rows = new List<string[]>();
        await MeasureAsync(channel, server.GrpcEndpoints[0].Port, scale, rows);

        Console.WriteLine($"Fabric.Rpc loopback, {Environment.ProcessorCount} CPUs, .NET {Environment.Version}{(quick ? " (quick)" : "")}");
        Console.WriteLine();
        Console.WriteLine($"(load average at the end: {LoadAverage()}; CPU/op = this process's CPU time, client and server together)");
        Console.WriteLine();
        Console.WriteLine("| case | throughput | p50 | p99 | CPU/op |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (string[] row in rows)
        {
            Console.WriteLine($"| {string.Join(" | ", row)} |");
        }

        return 0;
    }

    private static async Task MeasureAsync(RpcChannel channel, int port, int scale, List<string[]> rows)
    {
        int n = 30_000 / scale;
        TimeSpan cpu = Cpu();
        (double rate, double p50, double p99) u1 = await UnaryAsync(channel, n, 1);
        rows.Add(["unary, 1 in flight", Rate(u1.rate, "calls/s"), Us(u1.p50), Us(u1.p99), CpuPer(cpu, n)]);

        cpu = Cpu();
        (double rate, double p50, double p99) raw = await RawUnaryAsync(port, n);
        rows.Add(["unary, 1 in flight: bare HttpClient, hand-made frame (the floor)", Rate(raw.rate, "calls/s"), Us(raw.p50), Us(raw.p99), CpuPer(cpu, n)]);

        n = 100_000 / scale;
        cpu = Cpu();
        (double rate, double p50, double p99) u16 = await UnaryAsync(channel, n, 16);
        rows.Add(["unary, 16 in flight", Rate(u16.rate, "calls/s"), Us(u16.p50), Us(u16.p99), CpuPer(cpu, n)]);

        n = 500_000 / scale;
        cpu = Cpu();
        double small = await ServerStreamAsync(channel, n, 0);
        rows.Add(["server stream, small messages (~10 B)", Rate(small, "msg/s"), "", "", CpuPer(cpu, n)]);

        n = 200_000 / scale;
        cpu = Cpu();
        double large = await ServerStreamAsync(channel, n, 4096);
        rows.Add(["server stream, 4 KiB messages", $"{Rate(large, "msg/s")} ({large * 4096 / (1 << 20):F0} MiB/s)", "", "", CpuPer(cpu, n)]);

        n = 30_000 / scale;
        cpu = Cpu();
        (double rate, double p50, double p99) bidi = await BidiRoundTripAsync(channel, n);
        rows.Add(["bidi ping-pong, 1 in flight", Rate(bidi.rate, "round trips/s"), Us(bidi.p50), Us(bidi.p99), CpuPer(cpu, n)]);

        n = 100_000 / scale;
        cpu = Cpu();
        (double rate, double p50, double p99) window = await BidiWindowAsync(channel, n, 16, 4096);
        rows.Add(["bidi, 16 in flight, 4 KiB each way", $"{Rate(window.rate, "round trips/s")} ({window.rate * 4096 / (1 << 20):F0} MiB/s each way)", Us(window.p50), Us(window.p99), CpuPer(cpu, n)]);
    }

    private static async Task<RpcServer> StartServerAsync()
    {
        var options = new RpcServerOptions();
        options.Endpoints.Add("127.0.0.1:0");
        string fsid4k = new('f', 4096 - 8);
        RpcServer server = new RpcServerBuilder(options)
            .AddService(RpcMethod.FindService(MonitorReflection.Descriptor, "fabric.Monitor"), b => b
                .Unary<HeartbeatRequest, HeartbeatReply>("Heartbeat", (request, _) =>
                    Task.FromResult(new HeartbeatReply { Epoch = request.Epoch, Known = true }))
                .ServerStreaming<WatchMapRequest, ClusterMap>("WatchMap", async (request, stream, context) =>
                {
                    // from_epoch carries the message count; the low 16 bits ask for the 4 KiB body.
                    long count = (long)(request.FromEpoch >> 16);
                    bool big = (request.FromEpoch & 0xFFFF) != 0;
                    var map = new ClusterMap { Fsid = big ? fsid4k : "" };
                    for (long i = 0; i < count; i++)
                    {
                        map.Epoch = (ulong)i + 1;
                        await stream.WriteAsync(map, context.CancellationToken);
                    }
                })
                .Unimplemented("Join").Unimplemented("GetMap").Unimplemented("ProposeChange")
                .Unimplemented("ReportFailure").Unimplemented("GetMonitorStatus"))
            .AddService(RpcMethod.FindService(EtcdKvReflection.Descriptor, "etcdserverpb.Lease"), b => b
                .DuplexStreaming<LeaseKeepAliveRequest, LeaseKeepAliveResponse>("LeaseKeepAlive", async (requests, responses, context) =>
                {
                    var reply = new LeaseKeepAliveResponse { TTL = 10 };
                    while (await requests.MoveNextAsync(context.CancellationToken))
                    {
                        reply.ID = requests.Current.ID;
                        await responses.WriteAsync(reply, context.CancellationToken);
                    }
                })
                .Unimplemented("LeaseGrant").Unimplemented("LeaseRevoke").Unimplemented("LeaseTimeToLive"))
            .AddService(RpcMethod.FindService(EtcdKvReflection.Descriptor, "etcdserverpb.Watch"), b => b
                .DuplexStreaming<WatchRequest, WatchResponse>("Watch", async (requests, responses, context) =>
                {
                    // Echo: each request's key comes back as an event value (the payload both ways).
                    var reply = new WatchResponse { Events = { new Event { Kv = new KeyValue() } } };
                    while (await requests.MoveNextAsync(context.CancellationToken))
                    {
                        reply.WatchId = requests.Current.CreateRequest.WatchId;
                        reply.Events[0].Kv.Value = requests.Current.CreateRequest.Key;
                        await responses.WriteAsync(reply, context.CancellationToken);
                    }
                }))
            .Build();
        await server.StartAsync();
        return server;
    }

    private static async Task<(double Rate, double P50, double P99)> UnaryAsync(RpcChannel channel, int calls, int inFlight)
    {
        long[] latencies = new long[calls];
        int next = -1;
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(_ => Task.Run(async () =>
        {
            var request = new HeartbeatRequest { NodeId = 1 };
            int i;
            while ((i = Interlocked.Increment(ref next)) < calls)
            {
                long t0 = Stopwatch.GetTimestamp();
                request.Epoch = (ulong)i;
                await channel.UnaryAsync(Heartbeat, request);
                latencies[i] = Stopwatch.GetTimestamp() - t0;
            }
        })));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (calls / seconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    /// <summary>The floor under our client: HttpClient alone, a pre-framed body, the response read to its trailers.</summary>
    private static async Task<(double Rate, double P50, double P99)> RawUnaryAsync(int port, int calls)
    {
        using var http = new HttpMessageInvoker(new SocketsHttpHandler { EnableMultipleHttp2Connections = true, UseProxy = false });
        var uri = new Uri($"http://127.0.0.1:{port}{Heartbeat.Path}");
        var message = new HeartbeatRequest { NodeId = 1, Epoch = 7 };
        byte[] body = new byte[5 + message.CalculateSize()];
        Fabric.Rpc.Protocol.GrpcFrame.Write(body, message, body.Length - 5);
        byte[] sink = new byte[4096];
        long[] latencies = new long[calls];
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            var content = new ByteArrayContent(body);
            content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
            using var request = new HttpRequestMessage(HttpMethod.Post, uri)
            {
                Version = System.Net.HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = content,
            };
            request.Headers.TryAddWithoutValidation("te", "trailers");
            using HttpResponseMessage response = await http.SendAsync(request, CancellationToken.None);
            using Stream stream = await response.Content.ReadAsStreamAsync();
            while (await stream.ReadAsync(sink) > 0)
            {
            }

            if (!response.TrailingHeaders.TryGetValues("grpc-status", out IEnumerable<string>? status) || status.First() != "0")
            {
                throw new InvalidOperationException("Raw unary call failed.");
            }

            latencies[i] = Stopwatch.GetTimestamp() - t0;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (calls / seconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    private static async Task<double> ServerStreamAsync(RpcChannel channel, int messages, int bodyBytes)
    {
        long start = Stopwatch.GetTimestamp();
        using ServerStreamingCall<ClusterMap> call = channel.ServerStreaming(WatchMap,
            new WatchMapRequest { FromEpoch = ((ulong)messages << 16) | (bodyBytes > 0 ? 1UL : 0UL) });
        long received = 0;
        while (await call.ResponseStream.MoveNextAsync())
        {
            received++;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (received != messages)
        {
            throw new InvalidOperationException($"Expected {messages} messages, got {received}.");
        }

        return messages / seconds;
    }

    private static async Task<(double Rate, double P50, double P99)> BidiRoundTripAsync(RpcChannel channel, int roundTrips)
    {
        using DuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call = channel.DuplexStreaming(KeepAlive);
        var request = new LeaseKeepAliveRequest();
        for (int i = 0; i < 1000; i++)
        {
            request.ID = i;
            await call.RequestStream.WriteAsync(request);
            await call.ResponseStream.MoveNextAsync();
        }

        long[] latencies = new long[roundTrips];
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < roundTrips; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            request.ID = i;
            await call.RequestStream.WriteAsync(request);
            if (!await call.ResponseStream.MoveNextAsync() || call.ResponseStream.Current.ID != i)
            {
                throw new InvalidOperationException("Bidi echo out of step.");
            }

            latencies[i] = Stopwatch.GetTimestamp() - t0;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNextAsync())
        {
        }

        return (roundTrips / seconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    private static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;

    private static string CpuPer(TimeSpan before, int operations) =>
        ((Cpu() - before).TotalMicroseconds / operations).ToString("F1", CultureInfo.InvariantCulture) + " µs";

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>A window of requests in flight on one bidi stream: the storage data path's shape.</summary>
    private static async Task<(double Rate, double P50, double P99)> BidiWindowAsync(RpcChannel channel, int count, int window, int payloadBytes)
    {
        using DuplexStreamingCall<WatchRequest, WatchResponse> call = channel.DuplexStreaming(Watch);
        var payload = Google.Protobuf.ByteString.CopyFrom(new byte[payloadBytes]);
        long[] sentAt = new long[count];
        long[] latencies = new long[count];
        using var credits = new SemaphoreSlim(window, window);
        long start = Stopwatch.GetTimestamp();
        Task writer = Task.Run(async () =>
        {
            var request = new WatchRequest { CreateRequest = new WatchCreateRequest { Key = payload } };
            for (int i = 0; i < count; i++)
            {
                await credits.WaitAsync();
                request.CreateRequest.WatchId = i;
                sentAt[i] = Stopwatch.GetTimestamp();
                await call.RequestStream.WriteAsync(request);
            }

            await call.RequestStream.CompleteAsync();
        });
        int received = 0;
        while (await call.ResponseStream.MoveNextAsync())
        {
            long id = call.ResponseStream.Current.WatchId;
            latencies[id] = Stopwatch.GetTimestamp() - sentAt[id];
            received++;
            credits.Release();
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        await writer;
        if (received != count)
        {
            throw new InvalidOperationException($"Expected {count} replies, got {received}.");
        }

        return (count / seconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    private static double Percentile(long[] ticks, double p)
    {
        long[] sorted = (long[])ticks.Clone();
        Array.Sort(sorted);
        long value = sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
        return value * 1_000_000.0 / Stopwatch.Frequency;
    }

    private static string Rate(double value, string unit) => value.ToString("N0", CultureInfo.InvariantCulture) + " " + unit;

    private static string Us(double microseconds) => microseconds.ToString("F0", CultureInfo.InvariantCulture) + " µs";
}
