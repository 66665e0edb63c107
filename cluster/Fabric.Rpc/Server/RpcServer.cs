using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fabric.Rpc.Server;

/// <summary>
/// A gRPC server on Kestrel: HTTP/2 endpoints (h2c prior knowledge, or TLS with ALPN h2 when a
/// certificate is configured) for the bound services, and optional HTTP/1.1 endpoints for plain GET
/// routes (/metrics). Built by <see cref="RpcServerBuilder"/>. Start once, stop once.
/// </summary>
public sealed class RpcServer : IAsyncDisposable
{
    private readonly RpcServerOptions _options;
    private readonly RequestDispatcher _dispatcher;
    private readonly ILogger _logger;
    private readonly List<ListenOptions> _grpcListeners = [];
    private readonly List<ListenOptions> _httpListeners = [];
    private WebApplication? _app;
    private int _state;

    internal RpcServer(RpcServerOptions options, IReadOnlyList<ServerMethod> methods, IReadOnlyDictionary<string, Func<HttpContext, Task>> getRoutes)
    {
        _options = options;
        _logger = options.LoggerFactory.CreateLogger("Fabric.Rpc.Server");
        _dispatcher = new RequestDispatcher(methods, getRoutes, options, _logger);
    }

    /// <summary>The bound gRPC endpoints (actual ports when 0 was asked), after StartAsync.</summary>
    public IReadOnlyList<IPEndPoint> GrpcEndpoints => _grpcListeners.Select(l => l.IPEndPoint!).ToArray();

    /// <summary>The bound plain-HTTP endpoints, after StartAsync.</summary>
    public IReadOnlyList<IPEndPoint> HttpEndpoints => _httpListeners.Select(l => l.IPEndPoint!).ToArray();

    /// <summary>The :path of every bound method.</summary>
    public IReadOnlyCollection<string> MethodPaths => _dispatcher.MethodPaths;

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The server was already started.");
        }

        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "Fabric.Rpc" });
        builder.Services.AddSingleton<IHostLifetime, NoopHostLifetime>();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(_options.LoggerFactory));
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        // Kestrel's and the host's per-request and lifecycle chatter: only warnings and worse get through.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.Warning);
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(ConfigureKestrel);

        WebApplication app = builder.Build();
        ((IApplicationBuilder)app).Run(_dispatcher.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        ServerLog.Started(_logger, string.Join(", ", GrpcEndpoints), _options.Certificate is not null,
            string.Join(", ", HttpEndpoints), MethodPaths.Count);
    }

    /// <summary>Stops accepting calls, lets running ones finish for <see cref="RpcServerOptions.ShutdownTimeout"/>, then aborts them.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1 || _app is null)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ShutdownTimeout);
        await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        ServerLog.Stopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }

    private void ConfigureKestrel(KestrelServerOptions kestrel)
    {
        kestrel.AddServerHeader = false;
        KestrelServerLimits limits = kestrel.Limits;
        // A gRPC stream is one request body for its whole life: no size cap (messages are capped one
        // by one) and no minimum data rate (a watch stream is idle for minutes).
        limits.MaxRequestBodySize = null;
        limits.MinRequestBodyDataRate = null;
        limits.MinResponseDataRate = null;
        limits.MaxConcurrentConnections = null;
        limits.MaxConcurrentUpgradedConnections = null;
        limits.Http2.MaxStreamsPerConnection = _options.MaxConcurrentStreamsPerConnection;
        limits.Http2.InitialConnectionWindowSize = _options.InitialConnectionWindowBytes;
        limits.Http2.InitialStreamWindowSize = _options.InitialStreamWindowBytes;
        limits.Http2.MaxFrameSize = 64 * 1024;
        if (_options.KeepAlivePingDelay is { } ping)
        {
            limits.Http2.KeepAlivePingDelay = ping;
            limits.Http2.KeepAlivePingTimeout = _options.KeepAlivePingTimeout;
        }

        foreach (string endpoint in _options.Endpoints)
        {
            kestrel.Listen(EndpointAddress.Parse(endpoint), listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (_options.Certificate is { } certificate)
                {
                    listen.UseHttps(certificate);
                }

                _grpcListeners.Add(listen);
            });
        }

        foreach (string endpoint in _options.HttpEndpoints)
        {
            kestrel.Listen(EndpointAddress.Parse(endpoint), listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                _httpListeners.Add(listen);
            });
        }
    }
}
