using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Tests.Protos;
using Fabric.Rpc.Tests.Support;
using Google.Protobuf;

namespace Fabric.Rpc.Tests.Calls;

public sealed class UnaryCallTests
{
    [Fact]
    public async Task Echo_returns_the_request()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        EchoReply reply = await channel.UnaryAsync(TestServer.Echo, new EchoRequest { Text = "héllo", Value = 42, Payload = ByteString.CopyFromUtf8("abc") });

        Assert.Equal("héllo", reply.Text);
        Assert.Equal(42, reply.Index);
        Assert.Equal("abc", reply.Payload.ToStringUtf8());
    }

    [Fact]
    public async Task Many_concurrent_calls_share_the_channel()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        EchoReply[] replies = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            channel.UnaryAsync(TestServer.Echo, new EchoRequest { Value = i })));

        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), replies.Select(r => r.Index));
    }

    [Fact]
    public async Task Metadata_travels_both_ways_ascii_and_binary()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();
        byte[] binary = [0, 1, 2, 250, 255, (byte)',', 61];
        var headers = new Metadata().Add("x-echo", "plain value").Add("x-echo-bin", binary);

        RpcResponse<EchoReply> response = await channel.UnaryWithMetadataAsync(TestServer.Echo, new EchoRequest { Text = "m" },
            new CallOptions { Headers = headers });

        Assert.Equal("plain value", response.Headers.GetValue("x-echo"));
        Assert.Equal(binary, response.Headers.GetValueBytes("x-echo-bin"));
        Assert.Equal("plain value", response.Trailers.GetValue("x-trailer"));
        Assert.Equal(binary, response.Trailers.GetValueBytes("x-trailer-bin"));
        Assert.Null(response.Trailers.GetValue("grpc-status"));
    }

    [Theory]
    [InlineData(StatusCode.Cancelled)]
    [InlineData(StatusCode.Unknown)]
    [InlineData(StatusCode.InvalidArgument)]
    [InlineData(StatusCode.DeadlineExceeded)]
    [InlineData(StatusCode.NotFound)]
    [InlineData(StatusCode.AlreadyExists)]
    [InlineData(StatusCode.PermissionDenied)]
    [InlineData(StatusCode.ResourceExhausted)]
    [InlineData(StatusCode.FailedPrecondition)]
    [InlineData(StatusCode.Aborted)]
    [InlineData(StatusCode.OutOfRange)]
    [InlineData(StatusCode.Unimplemented)]
    [InlineData(StatusCode.Internal)]
    [InlineData(StatusCode.Unavailable)]
    [InlineData(StatusCode.DataLoss)]
    [InlineData(StatusCode.Unauthenticated)]
    public async Task Every_status_code_reaches_the_client_with_its_message(StatusCode code)
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();
        const string detail = "naïve 100% ☃ \"quoted\"\ttab, 日本語 \U0001F600";

        RpcException e = await Assert.ThrowsAsync<RpcException>(() =>
            channel.UnaryAsync(TestServer.Fail, new FailRequest { Code = (int)code, Message = detail, Reason = "why-not" }));

        Assert.Equal(code, e.StatusCode);
        Assert.Equal(detail, e.Detail);
        Assert.Equal("why-not", e.Trailers.GetValue("x-reason"));
    }

    [Fact]
    public async Task A_handler_exception_is_internal_with_its_message()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        RpcException e = await Assert.ThrowsAsync<RpcException>(() =>
            channel.UnaryAsync(TestServer.Fail, new FailRequest { Code = -1, Message = "boom at step 3" }));

        Assert.Equal(StatusCode.Internal, e.StatusCode);
        Assert.Contains("boom at step 3", e.Detail);
        Assert.Contains("InvalidOperationException", e.Detail);
    }

    [Fact]
    public async Task An_unimplemented_method_and_an_unknown_service_are_unimplemented()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        RpcException notBound = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(TestServer.NotBound, new EchoRequest()));
        Assert.Equal(StatusCode.Unimplemented, notBound.StatusCode);
        Assert.Contains("NotBound", notBound.Detail);

        // A service this server does not host at all (etcd's KV).
        var put = RpcMethod.From<Fabric.Proto.Etcd.PutRequest, Fabric.Proto.Etcd.PutResponse>(Fabric.Proto.Etcd.EtcdKvReflection.Descriptor, "etcdserverpb.KV", "Put");
        RpcException unknown = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(put, new Fabric.Proto.Etcd.PutRequest()));
        Assert.Equal(StatusCode.Unimplemented, unknown.StatusCode);
        Assert.Contains("etcdserverpb.KV", unknown.Detail);
    }

    [Fact]
    public async Task A_request_over_the_server_limit_is_resource_exhausted_and_the_server_keeps_serving()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.MaxReceiveMessageBytes = 64 * 1024);
        RpcChannel channel = server.Channel();

        RpcException e = await Assert.ThrowsAsync<RpcException>(() =>
            channel.UnaryAsync(TestServer.Echo, new EchoRequest { Payload = ByteString.CopyFrom(new byte[100_000]) }));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);

        EchoReply ok = await channel.UnaryAsync(TestServer.Echo, new EchoRequest { Payload = ByteString.CopyFrom(new byte[60_000]) });
        Assert.Equal(60_000, ok.Payload.Length);
    }

    [Fact]
    public async Task A_request_over_the_client_send_limit_fails_before_sending()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel(new RpcChannelOptions { MaxSendMessageBytes = 1000 });

        RpcException e = await Assert.ThrowsAsync<RpcException>(() =>
            channel.UnaryAsync(TestServer.Echo, new EchoRequest { Payload = ByteString.CopyFrom(new byte[2000]) }));

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }

    [Fact]
    public async Task A_server_that_is_not_there_is_unavailable()
    {
        int port;
        await using (TestServer server = await TestServer.StartAsync())
        {
            port = server.Endpoint.Port;
        }

        using var channel = new RpcChannel($"127.0.0.1:{port}");
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(TestServer.Echo, new EchoRequest()));

        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
    }

    [Fact]
    public async Task Calling_a_streaming_method_as_unary_is_refused()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        await Assert.ThrowsAsync<ArgumentException>(() => channel.UnaryAsync(TestServer.Chat, new EchoRequest()));
    }
}
