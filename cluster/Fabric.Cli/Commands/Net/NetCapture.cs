using System.Buffers.Binary;
using System.Text.Json.Nodes;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;

namespace Fabric.Cli.Commands.Net;

/// <summary>
/// `fabric net capture NET [--port P] [--node N] --out FILE.pcap [--count N] [--duration 10s]`: a live
/// capture of a network into one pcap file (tshark and Wireshark read it). Each node streams pcap chunks
/// of what its switch forwards on the network (Capture in proto/switch.proto); the records of every node
/// go into the one file as they arrive. With --port only the node that has the port captures, only that
/// port's frames. Ends after --count frames in all, after --duration, or on Ctrl+C (the file is complete
/// in every case).
/// </summary>
internal static class NetCapture
{
    private const int GlobalHeaderLength = 24;
    private const int RecordHeaderLength = 16;
    private const uint Magic = 0xA1B2C3D4;

    public sealed record Options(string Network, string? Port, string? Node, string Out, int Count, TimeSpan? Duration);

    public static async Task<int> RunAsync(CliContext context, Options options, CancellationToken cancellationToken)
    {
        if (options.Count < 0) throw new CliException("--count must be 0 (no limit) or more", CliException.Usage);
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        NetViews.RequireNetwork(map, options.Network);
        using var nodes = new SwitchNodes(map);
        IReadOnlyList<NodeInfo> targets = options.Node is { } pinned ? [nodes.Require(pinned)]
            : options.Port is { } port ? [await NetTrace.FindPortAsync(map, nodes, port, cancellationToken).ConfigureAwait(false)]
            : nodes.Up;
        if (targets.Count == 0) throw new CliException("no node is up to capture on (fabric node list)");

        var directory = Path.GetDirectoryName(Path.GetFullPath(options.Out));
        if (directory is not null && !Directory.Exists(directory)) throw new CliException($"directory {directory} does not exist (for --out {options.Out})", CliException.Usage);
        await using var file = new FileStream(options.Out, FileMode.Create, FileAccess.Write, FileShare.Read);
        var header = new byte[GlobalHeaderLength];
        WriteGlobalHeader(header);
        file.Write(header);
        await file.FlushAsync(cancellationToken).ConfigureAwait(false);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (options.Duration is { } duration) stop.CancelAfter(duration + TimeSpan.FromSeconds(2)); // nodes end at the duration; this is the backstop
        var gate = new object();
        long frames = 0;
        var perNode = targets.ToDictionary(n => n.Name, _ => (Frames: 0L, Dropped: 0UL, Error: ""));
        context.Out.Note($"capturing {options.Network}{(options.Port is null ? "" : $" port {options.Port}")} on {string.Join(", ", targets.Select(t => t.Name))} into {options.Out}"
            + (options.Count > 0 ? $" until {options.Count} frames" : "") + (options.Duration is { } d ? $" for {d.TotalSeconds:0.#} s" : "") + " (Ctrl+C stops)");

        var request = new CaptureRequest
        {
            Network = options.Network,
            Port = options.Port ?? "",
            Count = (uint)options.Count,
            DurationMs = options.Duration is { } dd ? (uint)Math.Min(uint.MaxValue, dd.TotalMilliseconds) : 0,
        };
        var streams = targets.Select(async node =>
        {
            try
            {
                using var call = nodes.Channel(node).ServerStreaming(SwitchAdminMethods.Capture, request, new Fabric.Rpc.Client.CallOptions { CancellationToken = stop.Token });
                bool first = true;
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(stop.Token).ConfigureAwait(false))
                {
                    var data = chunk.Data.Memory;
                    if (first)
                    {
                        if (data.Length < GlobalHeaderLength || BinaryPrimitives.ReadUInt32LittleEndian(data.Span) != Magic)
                            throw new RpcException(StatusCode.Internal, "the node's capture stream does not start with a pcap header");
                        data = data[GlobalHeaderLength..];
                        first = false;
                    }
                    lock (gate)
                    {
                        var entry = perNode[node.Name];
                        entry.Dropped = chunk.Dropped;
                        while (data.Length >= RecordHeaderLength && (options.Count == 0 || frames < options.Count))
                        {
                            int length = RecordHeaderLength + (int)BinaryPrimitives.ReadUInt32LittleEndian(data.Span[8..]);
                            if (length > data.Length) throw new RpcException(StatusCode.Internal, "the node's capture stream cut a pcap record");
                            file.Write(data.Span[..length]);
                            data = data[length..];
                            frames++;
                            entry.Frames++;
                        }
                        perNode[node.Name] = entry;
                        // Under the lock: a FileStream is not thread-safe, and a flush racing another node's
                        // stream's write lost records (a "--count 8" file held 6).
                        file.Flush();
                        if (options.Count > 0 && frames >= options.Count) stop.Cancel();
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Count reached, duration over, or Ctrl+C: a normal end.
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && stop.IsCancellationRequested)
            {
            }
            catch (RpcException e)
            {
                lock (gate)
                {
                    var entry = perNode[node.Name];
                    entry.Error = $"{e.Detail} ({e.StatusCode})";
                    perNode[node.Name] = entry;
                }
            }
        }).ToList();
        await Task.WhenAll(streams).ConfigureAwait(false);
        await file.FlushAsync(CancellationToken.None).ConfigureAwait(false);

        var failed = perNode.Where(p => p.Value.Error.Length > 0).ToList();
        if (context.Json)
        {
            context.Out.WriteJson(new JsonObject
            {
                ["file"] = options.Out,
                ["network"] = options.Network,
                ["frames"] = frames,
                ["nodes"] = new JsonArray(perNode.Select(p => (JsonNode)new JsonObject
                {
                    ["node"] = p.Key, ["frames"] = p.Value.Frames, ["dropped"] = p.Value.Dropped, ["error"] = p.Value.Error,
                }).ToArray()),
            });
        }
        else
        {
            context.Out.Line($"{frames} frame(s) in {options.Out} (" + string.Join(", ", perNode.Select(p => $"{p.Key}: {p.Value.Frames}"
                + (p.Value.Dropped > 0 ? $", {p.Value.Dropped} not kept up with" : "")
                + (p.Value.Error.Length > 0 ? $", failed: {p.Value.Error}" : ""))) + ")");
        }
        if (failed.Count == perNode.Count) throw new CliException($"the capture failed on every node: {string.Join("; ", failed.Select(f => $"{f.Key}: {f.Value.Error}"))}");
        return 0;
    }

    private static void WriteGlobalHeader(Span<byte> g)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(g, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(g[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(g[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(g[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(g[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(g[16..], 262144);
        BinaryPrimitives.WriteUInt32LittleEndian(g[20..], 1); // LINKTYPE_ETHERNET
    }
}
