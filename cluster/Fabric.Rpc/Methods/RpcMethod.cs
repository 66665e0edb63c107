using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Fabric.Rpc.Methods;

/// <summary>
/// Builds <see cref="RpcMethod{TRequest, TResponse}"/> from generated descriptors and checks, once, that
/// the method exists and that its input and output types are the CLR types given.
/// </summary>
public static class RpcMethod
{
    /// <summary>
    /// The method <paramref name="methodName"/> of service <paramref name="serviceName"/> (the full
    /// name, "fabric.Monitor", or the short name when unique in the file) declared in
    /// <paramref name="file"/> (e.g. <c>MonitorReflection.Descriptor</c>).
    /// </summary>
    public static RpcMethod<TRequest, TResponse> From<TRequest, TResponse>(FileDescriptor file, string serviceName, string methodName)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        ArgumentNullException.ThrowIfNull(file);
        ServiceDescriptor service = FindService(file, serviceName);
        MethodDescriptor method = service.FindMethodByName(methodName)
            ?? throw new ArgumentException(
                $"Service {service.FullName} has no method '{methodName}' (it has: {string.Join(", ", service.Methods.Select(m => m.Name))}).",
                nameof(methodName));
        return From<TRequest, TResponse>(method);
    }

    public static RpcMethod<TRequest, TResponse> From<TRequest, TResponse>(MethodDescriptor method)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        ArgumentNullException.ThrowIfNull(method);
        CheckTypes(method, typeof(TRequest), typeof(TResponse));
        return new RpcMethod<TRequest, TResponse>(method);
    }

    public static ServiceDescriptor FindService(FileDescriptor file, string serviceName)
    {
        foreach (ServiceDescriptor service in file.Services)
        {
            if (service.FullName == serviceName || service.Name == serviceName)
            {
                return service;
            }
        }

        throw new ArgumentException(
            $"{file.Name} declares no service '{serviceName}' (it has: {string.Join(", ", file.Services.Select(s => s.FullName))}).",
            nameof(serviceName));
    }

    internal static MethodType TypeOf(MethodDescriptor method) => (method.IsClientStreaming, method.IsServerStreaming) switch
    {
        (false, false) => MethodType.Unary,
        (false, true) => MethodType.ServerStreaming,
        (true, false) => MethodType.ClientStreaming,
        (true, true) => MethodType.DuplexStreaming,
    };

    internal static void CheckTypes(MethodDescriptor method, Type request, Type response)
    {
        string path = "/" + method.Service.FullName + "/" + method.Name;
        if (!Matches(method.InputType, request))
        {
            throw new ArgumentException(
                $"{path} takes {method.InputType.FullName}, not {request.FullName}.");
        }

        if (!Matches(method.OutputType, response))
        {
            throw new ArgumentException(
                $"{path} returns {method.OutputType.FullName}, not {response.FullName}.");
        }
    }

    private static bool Matches(MessageDescriptor descriptor, Type type) =>
        descriptor.ClrType is not null ? descriptor.ClrType == type : MessageName(type) == descriptor.FullName;

    private static string? MessageName(Type type) =>
        (Activator.CreateInstance(type) as IMessage)?.Descriptor.FullName;
}
