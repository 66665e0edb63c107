using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Tests.Protos;
using Fabric.Rpc.Tests.Support;
using Google.Protobuf;

namespace Fabric.Rpc.Tests.Calls;

public sealed class DeadlineAndCancellationTests
{
    [Fact]
    public async Task A_deadline_is_observed_by_the_client_and_the_handler()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();
        // Warm up the connection and the server's Sleep path first: a first call that has to connect and JIT on a
        // loaded machine can reach its client deadline before the handler ever runs, and then the handler has
        // nothing to observe (the flake this once was).
        await channel.UnaryAsync(TestServer.Sleep, new SleepRequest { DelayMs = 0, Tag = "warm-up" });

        RpcException e = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(TestServer.Sleep,
            new SleepRequest { DelayMs = 60_000, Tag = "deadline" }, CallOptions.WithTimeout(TimeSpan.FromSeconds(1))));

        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        // Client and server deadlines fire together: the handler's token fires from whichever arrives
        // first (its own timer, or the client's RST_STREAM). The server-only test below pins the timer.
        string outcome = await Wait.For(server.Service.Outcome("deadline").Task, "the handler to see its deadline");
        Assert.StartsWith("cancelled:", outcome);
    }

    [Fact]
    public async Task The_server_ends_a_call_at_the_grpc_timeout_it_received()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler());
        // A raw client with no timer of its own: only the server's deadline can end this call.
        byte[] body = [0, 0, 0, 0, 0, .. new SleepRequest { DelayMs = 60_000, Tag = "server-deadline" }.ToByteArray()];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(1), (uint)(body.Length - 5));
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{server.Endpoint.Port}/fabric.test.Tester/Sleep")
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        request.Headers.TryAddWithoutValidation("grpc-timeout", "200m");

        using HttpResponseMessage response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();

        string? status = response.Headers.TryGetValues("grpc-status", out var h) ? h.First()
            : response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.First() : null;
        Assert.Equal("4", status);
        Assert.Equal("cancelled:deadline", await Wait.For(server.Service.Outcome("server-deadline").Task, "the handler to see its deadline"));
    }

    [Fact]
    public async Task A_generous_deadline_does_not_disturb_the_call()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        EchoReply reply = await channel.UnaryAsync(TestServer.Sleep, new SleepRequest { DelayMs = 10, Tag = "fast" },
            new CallOptions { Deadline = DateTimeOffset.UtcNow.AddSeconds(30) });

        Assert.Equal("fast", reply.Text);
        Assert.Equal("completed", await server.Service.Outcome("fast").Task);
    }

    [Fact]
    public async Task A_server_stream_that_outlives_its_deadline_ends_with_deadline_exceeded()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();
        // Whichever side notices first (client timer, or the server's DEADLINE_EXCEEDED / RST_STREAM), the caller sees DEADLINE_EXCEEDED.
        using ServerStreamingCall<EchoReply> call = channel.ServerStreaming(TestServer.Count, new CountRequest { Count = int.MaxValue, PayloadBytes = 1 },
            CallOptions.WithTimeout(TimeSpan.FromMilliseconds(200)));

        RpcException e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNextAsync())
            {
            }
        });

        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
    }

    [Fact]
    public async Task Client_cancellation_reaches_the_handlers_token()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();
        using var cts = new CancellationTokenSource();

        Task<EchoReply> call = channel.UnaryAsync(TestServer.Sleep, new SleepRequest { DelayMs = 60_000, Tag = "cancel" },
            new CallOptions { CancellationToken = cts.Token });
        await Wait.For(server.Service.Signal(server.Service.Started, "cancel").Task, "the handler to start");
        cts.Cancel();

        RpcException e = await Assert.ThrowsAsync<RpcException>(() => call);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.Equal("cancelled:client", await Wait.For(server.Service.Outcome("cancel").Task, "the handler to see the cancellation"));
    }

    [Fact]
    public async Task Disposing_a_stream_cancels_it_on_the_server()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        ServerStreamingCall<EchoReply> call = channel.ServerStreaming(TestServer.Count, new CountRequest { Count = int.MaxValue, PayloadBytes = 100 });
        Assert.True(await call.ResponseStream.MoveNextAsync());
        call.Dispose();

        Assert.Equal(StatusCode.Cancelled, call.GetStatus().Code);
        // The channel is still good.
        Assert.Equal("x", (await channel.UnaryAsync(TestServer.Echo, new EchoRequest { Text = "x" })).Text);
    }

    [Fact]
    public async Task A_deadline_already_past_fails_without_a_call()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        RpcException e = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(TestServer.Echo, new EchoRequest(),
            new CallOptions { Deadline = DateTimeOffset.UtcNow.AddSeconds(-1) }));

        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
    }
}
