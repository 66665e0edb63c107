using System.Net;
using System.Text;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Server;
using Fabric.Rpc.Tests.Protos;

namespace Fabric.Rpc.Tests.Support;

/// <summary>A real server on a free loopback port with the Tester service and a /metrics route.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public static readonly RpcMethod<EchoRequest, EchoReply> Echo = RpcMethod.From<EchoRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Echo");
    public static readonly RpcMethod<FailRequest, EchoReply> Fail = RpcMethod.From<FailRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Fail");
    public static readonly RpcMethod<SleepRequest, EchoReply> Sleep = RpcMethod.From<SleepRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Sleep");
    public static readonly RpcMethod<CountRequest, EchoReply> Count = RpcMethod.From<CountRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Count");
    public static readonly RpcMethod<EchoRequest, SumReply> Sum = RpcMethod.From<EchoRequest, SumReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Sum");
    public static readonly RpcMethod<EchoRequest, EchoReply> Chat = RpcMethod.From<EchoRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Chat");
    public static readonly RpcMethod<EchoRequest, EchoReply> NotBound = RpcMethod.From<EchoRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Tester", "NotBound");

    private readonly RpcServer _server;
    private readonly List<RpcChannel> _channels = [];

    private TestServer(RpcServer server, TesterService service)
    {
        _server = server;
        Service = service;
    }

    public TesterService Service { get; }

    public IPEndPoint Endpoint => _server.GrpcEndpoints[0];

    public IPEndPoint HttpEndpoint => _server.HttpEndpoints[0];

    public string Target => $"127.0.0.1:{Endpoint.Port}";

    public static async Task<TestServer> StartAsync(Action<RpcServerOptions>? configure = null)
    {
        var options = new RpcServerOptions();
        options.Endpoints.Add("127.0.0.1:0");
        options.HttpEndpoints.Add("127.0.0.1:0");
        configure?.Invoke(options);
        var service = new TesterService();
        RpcServer server = new RpcServerBuilder(options)
            .AddService(RpcMethod.FindService(TesterReflection.Descriptor, "fabric.test.Tester"), service.Bind)
            .MapGet("/metrics", async http =>
            {
                http.Response.ContentType = "text/plain; version=0.0.4";
                await http.Response.Body.WriteAsync(Encoding.ASCII.GetBytes("fabric_test_up 1\n"));
            })
            .Build();
        await server.StartAsync();
        return new TestServer(server, service);
    }

    public RpcChannel Channel(RpcChannelOptions? options = null)
    {
        var channel = new RpcChannel(Target, options);
        lock (_channels)
        {
            _channels.Add(channel);
        }

        return channel;
    }

    public async ValueTask DisposeAsync()
    {
        lock (_channels)
        {
            foreach (RpcChannel channel in _channels)
            {
                channel.Dispose();
            }
        }

        await _server.DisposeAsync();
    }
}
