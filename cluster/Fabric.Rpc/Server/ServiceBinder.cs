using Fabric.Rpc.Methods;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Fabric.Rpc.Server;

/// <summary>
/// Binds handlers to the methods of one service, taken from its generated descriptor (so paths are
/// never written by hand). Each bind checks that the method exists, that its shape (unary, server,
/// client or duplex streaming) is the one bound, and that the request and response CLR types are the
/// descriptor's input and output. When the bind action returns, every method of the service must have
/// been bound or explicitly left <see cref="Unimplemented"/>: a forgotten method fails at start-up,
/// not at the first call.
/// </summary>
public sealed class ServiceBinder
{
    private readonly Dictionary<string, ServerMethod> _bound = new(StringComparer.Ordinal);

    internal ServiceBinder(ServiceDescriptor service) => Service = service;

    public ServiceDescriptor Service { get; }

    public ServiceBinder Unary<TRequest, TResponse>(string methodName, UnaryHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        MethodDescriptor method = Resolve<TRequest, TResponse>(methodName, MethodType.Unary, handler);
        return Add(new UnaryServerMethod<TRequest, TResponse>(method, handler));
    }

    public ServiceBinder ServerStreaming<TRequest, TResponse>(string methodName, ServerStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        MethodDescriptor method = Resolve<TRequest, TResponse>(methodName, MethodType.ServerStreaming, handler);
        return Add(new ServerStreamingServerMethod<TRequest, TResponse>(method, handler));
    }

    public ServiceBinder ClientStreaming<TRequest, TResponse>(string methodName, ClientStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        MethodDescriptor method = Resolve<TRequest, TResponse>(methodName, MethodType.ClientStreaming, handler);
        return Add(new ClientStreamingServerMethod<TRequest, TResponse>(method, handler));
    }

    public ServiceBinder DuplexStreaming<TRequest, TResponse>(string methodName, DuplexStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        MethodDescriptor method = Resolve<TRequest, TResponse>(methodName, MethodType.DuplexStreaming, handler);
        return Add(new DuplexStreamingServerMethod<TRequest, TResponse>(method, handler));
    }

    /// <summary>Leaves a method deliberately unimplemented: calls to it end with UNIMPLEMENTED.</summary>
    public ServiceBinder Unimplemented(string methodName) => Add(new UnimplementedServerMethod(Find(methodName)));

    /// <summary>The bound methods; throws when a method of the service is neither bound nor left unimplemented.</summary>
    internal IReadOnlyCollection<ServerMethod> Complete()
    {
        string[] missing = Service.Methods.Where(m => !_bound.ContainsKey(m.Name)).Select(m => m.Name).ToArray();
        if (missing.Length > 0)
        {
            throw new InvalidOperationException(
                $"Service {Service.FullName}: no handler for {string.Join(", ", missing)}. Bind each method, or call Unimplemented(name) for the ones this server does not serve.");
        }

        return _bound.Values;
    }

    private MethodDescriptor Resolve<TRequest, TResponse>(string methodName, MethodType bindAs, Delegate handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        MethodDescriptor method = Find(methodName);
        MethodType declared = RpcMethod.TypeOf(method);
        if (declared != bindAs)
        {
            throw new ArgumentException(
                $"{Service.FullName}/{method.Name} is {declared} in the .proto, but was bound as {bindAs}.", nameof(methodName));
        }

        RpcMethod.CheckTypes(method, typeof(TRequest), typeof(TResponse));
        return method;
    }

    private MethodDescriptor Find(string methodName) =>
        Service.FindMethodByName(methodName)
        ?? throw new ArgumentException(
            $"Service {Service.FullName} has no method '{methodName}' (it has: {string.Join(", ", Service.Methods.Select(m => m.Name))}).",
            nameof(methodName));

    private ServiceBinder Add(ServerMethod method)
    {
        if (!_bound.TryAdd(method.Descriptor.Name, method))
        {
            throw new ArgumentException($"{method.Path} is bound twice.");
        }

        return this;
    }
}
