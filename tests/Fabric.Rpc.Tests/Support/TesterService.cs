using System.Collections.Concurrent;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Server;
using Fabric.Rpc.Streams;
using Fabric.Rpc.Tests.Protos;
using Google.Protobuf;

namespace Fabric.Rpc.Tests.Support;

/// <summary>The handlers of fabric.test.Tester, with a record of how Sleep calls ended on the server.</summary>
public sealed class TesterService
{
    /// <summary>Sleep calls by tag: set when the handler starts, and how it ended ("cancelled:deadline", "cancelled:client", "completed").</summary>
    public ConcurrentDictionary<string, TaskCompletionSource> Started { get; } = new();

    public ConcurrentDictionary<string, TaskCompletionSource<string>> Ended { get; } = new();

    public TaskCompletionSource Signal(ConcurrentDictionary<string, TaskCompletionSource> map, string tag) =>
        map.GetOrAdd(tag, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public TaskCompletionSource<string> Outcome(string tag) =>
        Ended.GetOrAdd(tag, _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));

    public void Bind(ServiceBinder binder) => binder
        .Unary<EchoRequest, EchoReply>("Echo", EchoAsync)
        .Unary<FailRequest, EchoReply>("Fail", FailAsync)
        .Unary<SleepRequest, EchoReply>("Sleep", SleepAsync)
        .ServerStreaming<CountRequest, EchoReply>("Count", CountAsync)
        .ClientStreaming<EchoRequest, SumReply>("Sum", SumAsync)
        .DuplexStreaming<EchoRequest, EchoReply>("Chat", ChatAsync)
        .Unimplemented("NotBound");

    private static async Task<EchoReply> EchoAsync(EchoRequest request, ServerCallContext context)
    {
        var headers = new Metadata();
        foreach (Metadata.Entry entry in context.RequestHeaders)
        {
            if (entry.Key.StartsWith("x-echo", StringComparison.Ordinal))
            {
                if (entry.IsBinary)
                {
                    headers.Add(entry.Key, entry.ValueBytes!);
                    context.ResponseTrailers.Add("x-trailer-bin", entry.ValueBytes!);
                }
                else
                {
                    headers.Add(entry.Key, entry.Value!);
                    context.ResponseTrailers.Add("x-trailer", entry.Value!);
                }
            }
        }

        if (headers.Count > 0)
        {
            await context.WriteResponseHeadersAsync(headers);
        }

        return new EchoReply { Text = request.Text, Payload = request.Payload, Index = request.Value };
    }

    private static Task<EchoReply> FailAsync(FailRequest request, ServerCallContext context)
    {
        if (request.Code == -1)
        {
            throw new InvalidOperationException(request.Message);
        }

        var trailers = new Metadata();
        if (request.Reason.Length > 0)
        {
            trailers.Add("x-reason", request.Reason);
        }

        throw new RpcException((StatusCode)request.Code, request.Message, trailers);
    }

    private async Task<EchoReply> SleepAsync(SleepRequest request, ServerCallContext context)
    {
        Signal(Started, request.Tag).TrySetResult();
        try
        {
            await Task.Delay(request.DelayMs, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            Outcome(request.Tag).TrySetResult(context.DeadlineExceeded ? "cancelled:deadline" : "cancelled:client");
            throw;
        }

        Outcome(request.Tag).TrySetResult("completed");
        return new EchoReply { Text = request.Tag };
    }

    private static async Task CountAsync(CountRequest request, IServerStreamWriter<EchoReply> stream, ServerCallContext context)
    {
        ByteString payload = ByteString.CopyFrom(new byte[request.PayloadBytes]);
        for (int i = 0; i < request.Count; i++)
        {
            if (request.FailAfter > 0 && i == request.FailAfter)
            {
                context.ResponseTrailers.Add("x-sent", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                throw new RpcException(StatusCode.Aborted, $"failed after {i} replies");
            }

            // Odd replies go pre-serialized (the path WatchMap uses to serialize a map once for every
            // watcher), so every streaming test checks both write paths frame the same way.
            var reply = new EchoReply { Index = i, Payload = payload };
            if (i % 2 == 1)
            {
                await ((IEncodedStreamWriter)stream).WriteEncodedAsync(reply.ToByteArray());
            }
            else
            {
                await stream.WriteAsync(reply);
            }
        }
    }

    private static async Task<SumReply> SumAsync(IAsyncStreamReader<EchoRequest> requests, ServerCallContext context)
    {
        var reply = new SumReply();
        await foreach (EchoRequest request in requests.ReadAllAsync())
        {
            reply.Sum += request.Value;
            reply.Count++;
        }

        return reply;
    }

    private static async Task ChatAsync(IAsyncStreamReader<EchoRequest> requests, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
    {
        while (await requests.MoveNextAsync())
        {
            EchoRequest request = requests.Current;
            await responses.WriteAsync(new EchoReply { Text = request.Text, Index = request.Value, Payload = request.Payload });
        }
    }
}
