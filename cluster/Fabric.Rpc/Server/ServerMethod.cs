using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;

namespace Fabric.Rpc.Server;

/// <summary>
/// A bound method: creates the call object for a request and runs the handler. RunAsync returns the
/// single response of unary and client-streaming calls (written by the dispatcher together with the
/// status), null for streaming responses (the handler wrote them).
/// </summary>
internal abstract class ServerMethod
{
    protected ServerMethod(MethodDescriptor descriptor)
    {
        Descriptor = descriptor;
        Type = RpcMethod.TypeOf(descriptor);
        Path = "/" + descriptor.Service.FullName + "/" + descriptor.Name;
    }

    public MethodDescriptor Descriptor { get; }

    public MethodType Type { get; }

    public string Path { get; }

    public abstract ServerCallContext CreateCall(HttpContext http, RpcServerOptions options, TimeSpan? timeout);

    public abstract Task<IMessage?> RunAsync(ServerCallContext call);
}

internal sealed class UnimplementedServerMethod(MethodDescriptor descriptor) : ServerMethod(descriptor)
{
    public override ServerCallContext CreateCall(HttpContext http, RpcServerOptions options, TimeSpan? timeout) =>
        new ServerCall<Empty, Empty>(http, Path, Empty.Parser, options, timeout);

    public override Task<IMessage?> RunAsync(ServerCallContext call) =>
        Task.FromException<IMessage?>(new RpcException(StatusCode.Unimplemented, $"Method {Path} is not implemented by this server."));

    private sealed class Empty : IMessage<Empty>
    {
        public static readonly MessageParser<Empty> Parser = new(() => new Empty());

        public MessageDescriptor Descriptor => throw new NotSupportedException();

        public int CalculateSize() => 0;

        public Empty Clone() => new();

        public bool Equals(Empty? other) => other is not null;

        public override bool Equals(object? obj) => obj is Empty;

        public override int GetHashCode() => 0;

        public void MergeFrom(Empty message)
        {
        }

        public void MergeFrom(CodedInputStream input) => input.SkipLastField();

        public void WriteTo(CodedOutputStream output)
        {
        }
    }
}

internal abstract class TypedServerMethod<TRequest, TResponse>(MethodDescriptor descriptor) : ServerMethod(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>, new()
{
    private static readonly MessageParser<TRequest> Parser = new(static () => new TRequest());

    public override ServerCallContext CreateCall(HttpContext http, RpcServerOptions options, TimeSpan? timeout) =>
        new ServerCall<TRequest, TResponse>(http, Path, Parser, options, timeout);

    public override Task<IMessage?> RunAsync(ServerCallContext call) => RunTypedAsync((ServerCall<TRequest, TResponse>)call);

    protected abstract Task<IMessage?> RunTypedAsync(ServerCall<TRequest, TResponse> call);
}

internal sealed class UnaryServerMethod<TRequest, TResponse>(MethodDescriptor descriptor, UnaryHandler<TRequest, TResponse> handler)
    : TypedServerMethod<TRequest, TResponse>(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>, new()
{
    protected override async Task<IMessage?> RunTypedAsync(ServerCall<TRequest, TResponse> call)
    {
        TRequest request = await call.ReadSingleRequestAsync().ConfigureAwait(false);
        return await handler(request, call).ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, $"The handler of {Path} returned no response.");
    }
}

internal sealed class ServerStreamingServerMethod<TRequest, TResponse>(MethodDescriptor descriptor, ServerStreamingHandler<TRequest, TResponse> handler)
    : TypedServerMethod<TRequest, TResponse>(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>, new()
{
    protected override async Task<IMessage?> RunTypedAsync(ServerCall<TRequest, TResponse> call)
    {
        TRequest request = await call.ReadSingleRequestAsync().ConfigureAwait(false);
        await handler(request, call, call).ConfigureAwait(false);
        return null;
    }
}

internal sealed class ClientStreamingServerMethod<TRequest, TResponse>(MethodDescriptor descriptor, ClientStreamingHandler<TRequest, TResponse> handler)
    : TypedServerMethod<TRequest, TResponse>(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>, new()
{
    protected override async Task<IMessage?> RunTypedAsync(ServerCall<TRequest, TResponse> call) =>
        await handler(call, call).ConfigureAwait(false)
        ?? throw new RpcException(StatusCode.Internal, $"The handler of {Path} returned no response.");
}

internal sealed class DuplexStreamingServerMethod<TRequest, TResponse>(MethodDescriptor descriptor, DuplexStreamingHandler<TRequest, TResponse> handler)
    : TypedServerMethod<TRequest, TResponse>(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>, new()
{
    protected override async Task<IMessage?> RunTypedAsync(ServerCall<TRequest, TResponse> call)
    {
        await handler(call, call, call).ConfigureAwait(false);
        return null;
    }
}
