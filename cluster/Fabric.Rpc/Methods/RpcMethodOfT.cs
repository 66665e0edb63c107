using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Fabric.Rpc.Methods;

/// <summary>
/// A method of a service, typed by its request and response messages and checked against the
/// generated descriptor, so no path string is ever written by hand. Built by <see cref="RpcMethod.From{TRequest, TResponse}(MethodDescriptor)"/>.
/// Immutable; build once (a static field) and share.
/// </summary>
public sealed class RpcMethod<TRequest, TResponse>
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>, new()
{
    internal RpcMethod(MethodDescriptor descriptor)
    {
        Descriptor = descriptor;
        Type = RpcMethod.TypeOf(descriptor);
        ServiceName = descriptor.Service.FullName;
        Name = descriptor.Name;
        Path = "/" + ServiceName + "/" + Name;
        RequestParser = new MessageParser<TRequest>(static () => new TRequest());
        ResponseParser = new MessageParser<TResponse>(static () => new TResponse());
    }

    public MethodDescriptor Descriptor { get; }

    public MethodType Type { get; }

    /// <summary>The fully qualified service name, e.g. "fabric.Monitor".</summary>
    public string ServiceName { get; }

    public string Name { get; }

    /// <summary>The HTTP/2 :path, "/fabric.Monitor/Join".</summary>
    public string Path { get; }

    public MessageParser<TRequest> RequestParser { get; }

    public MessageParser<TResponse> ResponseParser { get; }

    public override string ToString() => Path;
}
