using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;
using Fabric.Rpc.Tests.Protos;
using Fabric.Rpc.Tests.Support;
using Google.Protobuf;

namespace Fabric.Rpc.Tests.Calls;

public sealed class StreamingCallTests
{
    private const int Limit = 4 * 1024 * 1024;

    [Fact]
    public async Task Server_streaming_delivers_many_messages_in_order()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        using ServerStreamingCall<EchoReply> call = channel.ServerStreaming(TestServer.Count, new CountRequest { Count = 20_000, PayloadBytes = 16 });
        long expected = 0;
        await foreach (EchoReply reply in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(expected++, reply.Index);
        }

        Assert.Equal(20_000, expected);
        Assert.Equal(StatusCode.OK, call.GetStatus().Code);
    }

    [Fact]
    public async Task Server_streaming_of_zero_messages_ends_cleanly()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        using ServerStreamingCall<EchoReply> call = channel.ServerStreaming(TestServer.Count, new CountRequest { Count = 0 });

        Assert.False(await call.ResponseStream.MoveNextAsync());
        Assert.Equal(StatusCode.OK, call.GetStatus().Code);
    }

    [Fact]
    public async Task Messages_exactly_at_the_limit_pass_and_one_byte_more_is_resource_exhausted()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();
        // index (absent when 0) + payload: tag (1) + varint length (4) + bytes.
        int payloadAtLimit = Limit - 1 - 4;
        Assert.Equal(Limit, new EchoReply { Payload = ByteString.CopyFrom(new byte[payloadAtLimit]) }.CalculateSize());

        using (ServerStreamingCall<EchoReply> call = channel.ServerStreaming(TestServer.Count, new CountRequest { Count = 3, PayloadBytes = payloadAtLimit - 2 }))
        {
            // Index 1 and 2 add two bytes: every message is within the limit, the last ones exactly at it.
            int received = 0;
            await foreach (EchoReply reply in call.ResponseStream.ReadAllAsync())
            {
                Assert.Equal(payloadAtLimit - 2, reply.Payload.Length);
                received++;
            }

            Assert.Equal(3, received);
        }

        using (ServerStreamingCall<EchoReply> call = channel.ServerStreaming(TestServer.Count, new CountRequest { Count = 1, PayloadBytes = payloadAtLimit + 1 }))
        {
            RpcException e = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNextAsync());
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.Contains("larger than max", e.Detail);
        }

        // The connection and the server are fine afterwards.
        Assert.Equal("after", (await channel.UnaryAsync(TestServer.Echo, new EchoRequest { Text = "after" })).Text);
    }

    [Fact]
    public async Task Client_streaming_sums_the_stream()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        using ClientStreamingCall<EchoRequest, SumReply> call = channel.ClientStreaming(TestServer.Sum);
        for (int i = 1; i <= 1000; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Value = i });
        }

        await call.RequestStream.CompleteAsync();
        SumReply reply = await call.ResponseAsync;

        Assert.Equal(500_500, reply.Sum);
        Assert.Equal(1000, reply.Count);
    }

    [Fact]
    public async Task Client_streaming_of_nothing_gets_an_empty_sum()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        using ClientStreamingCall<EchoRequest, SumReply> call = channel.ClientStreaming(TestServer.Sum);
        await call.RequestStream.CompleteAsync();

        Assert.Equal(0, (await call.ResponseAsync).Count);
    }

    [Fact]
    public async Task Bidi_ping_pong_answers_each_message_before_the_next_is_sent()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(TestServer.Chat);
        for (int i = 0; i < 200; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Value = i, Text = "ping" });
            Assert.True(await call.ResponseStream.MoveNextAsync());
            Assert.Equal(i, call.ResponseStream.Current.Index);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNextAsync());
        Assert.Equal(StatusCode.OK, call.GetStatus().Code);
    }

    [Fact]
    public async Task Bidi_with_many_messages_in_flight_both_ways()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();
        const int count = 5000;
        ByteString payload = ByteString.CopyFrom(new byte[4096]);

        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(TestServer.Chat);
        Task writer = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++)
            {
                await call.RequestStream.WriteAsync(new EchoRequest { Value = i, Payload = payload });
            }

            await call.RequestStream.CompleteAsync();
        });

        long expected = 0;
        await foreach (EchoReply reply in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(expected++, reply.Index);
        }

        await Wait.For(writer, "the writer");
        Assert.Equal(count, expected);
    }

    [Fact]
    public async Task Many_streams_at_once_on_one_channel()
    {
        await using TestServer server = await TestServer.StartAsync();
        RpcChannel channel = server.Channel();

        int[] counts = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            using ServerStreamingCall<EchoReply> call = channel.ServerStreaming(TestServer.Count, new CountRequest { Count = 100 + i });
            int n = 0;
            await foreach (EchoReply _ in call.ResponseStream.ReadAllAsync())
            {
                n++;
            }

            return n;
        }));

        Assert.Equal(Enumerable.Range(0, 50).Select(i => 100 + i), counts);
    }

    [Fact]
    public async Task Writing_after_the_server_failed_the_call_throws_its_status()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.MaxReceiveMessageBytes = 1024);
        RpcChannel channel = server.Channel();

        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(TestServer.Chat);
        await call.RequestStream.WriteAsync(new EchoRequest { Payload = ByteString.CopyFrom(new byte[4096]) });
        RpcException e = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNextAsync());
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);

        RpcException again = await Assert.ThrowsAsync<RpcException>(async () => await call.RequestStream.WriteAsync(new EchoRequest()));
        Assert.Equal(StatusCode.ResourceExhausted, again.StatusCode);
    }
}
