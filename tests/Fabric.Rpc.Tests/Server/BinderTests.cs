using Fabric.Rpc.Methods;
using Fabric.Rpc.Server;
using Fabric.Rpc.Tests.Protos;
using Google.Protobuf.Reflection;

namespace Fabric.Rpc.Tests.Server;

public sealed class BinderTests
{
    private static readonly ServiceDescriptor Tester = RpcMethod.FindService(TesterReflection.Descriptor, "fabric.test.Tester");

    private static RpcServerBuilder Builder()
    {
        var options = new RpcServerOptions();
        options.Endpoints.Add("127.0.0.1:0");
        return new RpcServerBuilder(options);
    }

    private static Task<EchoReply> Echo(EchoRequest r, ServerCallContext c) => Task.FromResult(new EchoReply());

    [Fact]
    public void A_wrong_request_type_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Builder().AddService(Tester, b =>
            b.Unary<SleepRequest, EchoReply>("Echo", (r, c) => Task.FromResult(new EchoReply()))));
        Assert.Contains("takes fabric.test.EchoRequest", e.Message);
    }

    [Fact]
    public void A_wrong_response_type_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Builder().AddService(Tester, b =>
            b.Unary<EchoRequest, SumReply>("Echo", (r, c) => Task.FromResult(new SumReply()))));
        Assert.Contains("returns fabric.test.EchoReply", e.Message);
    }

    [Fact]
    public void An_unknown_method_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Builder().AddService(Tester, b => b.Unary<EchoRequest, EchoReply>("Ecco", Echo)));
        Assert.Contains("no method 'Ecco'", e.Message);
    }

    [Fact]
    public void A_streaming_method_bound_as_unary_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Builder().AddService(Tester, b => b.Unary<EchoRequest, EchoReply>("Chat", Echo)));
        Assert.Contains("DuplexStreaming", e.Message);
    }

    [Fact]
    public void A_forgotten_method_fails_at_startup_naming_it()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Builder().AddService(Tester, b => b.Unary<EchoRequest, EchoReply>("Echo", Echo)));
        Assert.Contains("Sleep", e.Message);
        Assert.Contains("Unimplemented", e.Message);
    }

    [Fact]
    public void A_method_bound_twice_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Builder().AddService(Tester, b => b
            .Unary<EchoRequest, EchoReply>("Echo", Echo)
            .Unary<EchoRequest, EchoReply>("Echo", Echo)));
    }

    [Fact]
    public void RpcMethod_checks_types_and_names_against_the_descriptor()
    {
        RpcMethod<EchoRequest, EchoReply> echo = RpcMethod.From<EchoRequest, EchoReply>(TesterReflection.Descriptor, "Tester", "Echo");
        Assert.Equal("/fabric.test.Tester/Echo", echo.Path);
        Assert.Equal(MethodType.Unary, echo.Type);
        Assert.Equal(MethodType.DuplexStreaming, RpcMethod.From<EchoRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Chat").Type);

        Assert.Throws<ArgumentException>(() => RpcMethod.From<EchoRequest, SumReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Echo"));
        Assert.Throws<ArgumentException>(() => RpcMethod.From<EchoRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Tester", "Nope"));
        Assert.Throws<ArgumentException>(() => RpcMethod.From<EchoRequest, EchoReply>(TesterReflection.Descriptor, "fabric.test.Nope", "Echo"));
    }
}
