using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Tests.Protos;
using Fabric.Rpc.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Fabric.Rpc.Tests.Server;

public sealed class LoggingTests
{
    [Fact]
    public async Task Handler_bugs_are_errors_cancellations_are_not_and_kestrel_stays_quiet()
    {
        var logs = new ListLoggerProvider();
        using ILoggerFactory factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        await using TestServer server = await TestServer.StartAsync(o => o.LoggerFactory = factory);
        RpcChannel channel = server.Channel();

        await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(TestServer.Fail, new FailRequest { Code = -1, Message = "a bug" }));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Category == "Fabric.Rpc.Server" && e.Message.Contains("/fabric.test.Tester/Fail"));

        using var cts = new CancellationTokenSource();
        Task<EchoReply> call = channel.UnaryAsync(TestServer.Sleep, new SleepRequest { DelayMs = 60_000, Tag = "log-cancel" }, new CallOptions { CancellationToken = cts.Token });
        await Wait.For(server.Service.Signal(server.Service.Started, "log-cancel").Task, "the handler to start");
        cts.Cancel();
        await Assert.ThrowsAsync<RpcException>(() => call);
        await Wait.For(server.Service.Outcome("log-cancel").Task, "the handler to end");

        Assert.Single(logs.Entries, e => e.Level >= LogLevel.Error);
        Assert.DoesNotContain(logs.Entries, e => e.Category.StartsWith("Microsoft.", StringComparison.Ordinal) && e.Level < LogLevel.Warning);
        Assert.Contains(logs.Entries, e => e.Category == "Fabric.Rpc.Server" && e.Level == LogLevel.Information && e.Message.Contains("listening"));
    }
}
