using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Tests.Protos;
using Fabric.Rpc.Tests.Support;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Fabric.Rpc.Tests.Calls;

/// <summary>
/// Many calls at once that end every possible way (OK, deadline, cancellation, dispose mid-stream,
/// error status, oversized message), from a seeded random plan: each call ends with a status, none
/// hangs, and the server keeps serving afterwards.
/// </summary>
public sealed class ChaosTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Every_call_ends_with_a_status_and_the_server_survives(int seed)
    {
        var logs = new ListLoggerProvider();
        using ILoggerFactory factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.MaxReceiveMessageBytes = 64 * 1024;
            o.LoggerFactory = factory;
        });
        RpcChannel channel = server.Channel();
        var random = new Random(seed);
        int[] plan = Enumerable.Range(0, 150).Select(_ => random.Next(8)).ToArray();
        int[] delays = plan.Select(_ => random.Next(0, 40)).ToArray();

        Task<StatusCode>[] calls = plan.Select((kind, i) => Task.Run(() => RunAsync(channel, kind, delays[i], i))).ToArray();
        StatusCode[] outcomes = await Wait.For(Task.WhenAll(calls), "every call to end");

        Assert.Contains(StatusCode.OK, outcomes);
        Assert.Equal("alive", (await channel.UnaryAsync(TestServer.Echo, new EchoRequest { Text = "alive" })).Text);
        using var fresh = new RpcChannel(server.Target);
        Assert.Equal("alive", (await fresh.UnaryAsync(TestServer.Echo, new EchoRequest { Text = "alive" })).Text);
        // No call ending here is a handler bug or a server fault.
        string[] problems = logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => $"{e.Category} {e.Level}: {e.Message}").ToArray();
        Assert.True(problems.Length == 0, string.Join("\n", problems));
    }

    private static async Task<StatusCode> RunAsync(RpcChannel channel, int kind, int delayMs, int i)
    {
        try
        {
            switch (kind)
            {
                case 0:
                    await channel.UnaryAsync(TestServer.Echo, new EchoRequest { Value = i });
                    break;
                case 1:
                    await channel.UnaryAsync(TestServer.Sleep, new SleepRequest { DelayMs = 1000, Tag = $"chaos-{i}" },
                        CallOptions.WithTimeout(TimeSpan.FromMilliseconds(delayMs + 1)));
                    break;
                case 2:
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(delayMs));
                    await channel.UnaryAsync(TestServer.Sleep, new SleepRequest { DelayMs = 1000, Tag = $"chaos-{i}" }, new CallOptions { CancellationToken = cts.Token });
                    break;
                }

                case 3:
                {
                    using ServerStreamingCall<EchoReply> call = channel.ServerStreaming(TestServer.Count, new CountRequest { Count = 1_000_000, PayloadBytes = 64 });
                    for (int n = 0; n < delayMs && await call.ResponseStream.MoveNextAsync(); n++)
                    {
                    }

                    return StatusCode.Cancelled; // disposed mid-stream
                }

                case 4:
                {
                    using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(TestServer.Chat,
                        CallOptions.WithTimeout(TimeSpan.FromMilliseconds(20 + delayMs)));
                    for (int n = 0; n < 1000; n++)
                    {
                        await call.RequestStream.WriteAsync(new EchoRequest { Value = n });
                        await call.ResponseStream.MoveNextAsync();
                    }

                    break;
                }

                case 5:
                    await channel.UnaryAsync(TestServer.Fail, new FailRequest { Code = (int)StatusCode.Aborted, Message = "planned" });
                    break;
                case 6:
                    await channel.UnaryAsync(TestServer.Echo, new EchoRequest { Payload = ByteString.CopyFrom(new byte[100_000]) });
                    break;
                default:
                {
                    using ClientStreamingCall<EchoRequest, SumReply> call = channel.ClientStreaming(TestServer.Sum,
                        CallOptions.WithTimeout(TimeSpan.FromMilliseconds(5 + delayMs)));
                    for (int n = 0; n < 100_000; n++)
                    {
                        await call.RequestStream.WriteAsync(new EchoRequest { Value = n });
                    }

                    await call.RequestStream.CompleteAsync();
                    await call.ResponseAsync;
                    break;
                }
            }

            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }
}
