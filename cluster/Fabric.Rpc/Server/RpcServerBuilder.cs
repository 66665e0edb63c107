using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;

namespace Fabric.Rpc.Server;

/// <summary>
/// Collects the services (bound from their generated descriptors) and the plain GET routes of a server:
/// <code>
/// var server = new RpcServerBuilder(options)
///     .AddService(RpcMethod.FindService(MonitorReflection.Descriptor, "fabric.Monitor"), b => b
///         .Unary&lt;JoinRequest, JoinReply&gt;("Join", monitor.JoinAsync)
///         .ServerStreaming&lt;WatchMapRequest, ClusterMap&gt;("WatchMap", monitor.WatchMapAsync)
///         .Unimplemented("ReportFailure"))
///     .MapGet("/metrics", metrics.WriteAsync)
///     .Build();
/// await server.StartAsync(ct);
/// </code>
/// </summary>
public sealed class RpcServerBuilder
{
    private readonly RpcServerOptions _options;
    private readonly List<ServerMethod> _methods = [];
    private readonly HashSet<string> _services = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Func<HttpContext, Task>> _getRoutes = new(StringComparer.Ordinal);

    public RpcServerBuilder(RpcServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <summary>Binds every method of <paramref name="service"/>; see <see cref="ServiceBinder"/> for the checks.</summary>
    public RpcServerBuilder AddService(ServiceDescriptor service, Action<ServiceBinder> bind)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(bind);
        if (!_services.Add(service.FullName))
        {
            throw new ArgumentException($"Service {service.FullName} is added twice.", nameof(service));
        }

        var binder = new ServiceBinder(service);
        bind(binder);
        _methods.AddRange(binder.Complete());
        return this;
    }

    /// <summary>
    /// A plain HTTP GET (and HEAD) route, served on every endpoint (HTTP/1.1 on <see cref="RpcServerOptions.HttpEndpoints"/>,
    /// so Prometheus and curl reach it there).
    /// </summary>
    public RpcServerBuilder MapGet(string path, Func<HttpContext, Task> handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(handler);
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"Route '{path}' must start with '/'.", nameof(path));
        }

        if (!_getRoutes.TryAdd(path, handler))
        {
            throw new ArgumentException($"Route {path} is mapped twice.", nameof(path));
        }

        return this;
    }

    public RpcServer Build()
    {
        _options.Validate();
        return new RpcServer(_options, _methods.ToArray(), new Dictionary<string, Func<HttpContext, Task>>(_getRoutes));
    }
}
