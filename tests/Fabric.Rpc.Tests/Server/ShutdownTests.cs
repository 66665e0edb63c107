using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Server;
using Fabric.Rpc.Tests.Protos;
using Fabric.Rpc.Tests.Support;

namespace Fabric.Rpc.Tests.Server;

public sealed class ShutdownTests
{
    [Fact]
    public async Task Stopping_ends_long_calls_after_the_grace_and_their_clients_get_a_status()
    {
        var options = new RpcServerOptions { ShutdownTimeout = TimeSpan.FromMilliseconds(500) };
        options.Endpoints.Add("127.0.0.1:0");
        var service = new TesterService();
        RpcServer server = new RpcServerBuilder(options)
            .AddService(RpcMethod.FindService(TesterReflection.Descriptor, "fabric.test.Tester"), service.Bind)
            .Build();
        await server.StartAsync();
        using var channel = new RpcChannel($"127.0.0.1:{server.GrpcEndpoints[0].Port}");

        Task<EchoReply> sleeping = channel.UnaryAsync(TestServer.Sleep, new SleepRequest { DelayMs = 600_000, Tag = "shutdown" });
        await Wait.For(service.Signal(service.Started, "shutdown").Task, "the handler to start");
        await Wait.For(server.StopAsync(), "the server to stop");

        Assert.Equal("cancelled:client", await Wait.For(service.Outcome("shutdown").Task, "the handler to be cancelled"));
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => Wait.For(sleeping, "the call to end"));
        Assert.Contains(e.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Cancelled, StatusCode.Internal });
        await server.DisposeAsync();

        // A new call finds nobody there.
        RpcException after = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(TestServer.Echo, new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, after.StatusCode);
    }
}
