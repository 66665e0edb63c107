using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Google.Protobuf;

namespace Fabric.Rpc.Client;

/// <summary>
/// The client side of one target ("host:port", "http://host:port", or "https://host:port" for TLS):
/// HTTP/2 connections (several when one fills its stream limit), keep-alive pings, a connect timeout,
/// and typed calls for the four method shapes. Thread-safe; make one per target and share it.
///
/// Every call ends with OK or an RpcException carrying the status; connection failures are
/// UNAVAILABLE, the local deadline DEADLINE_EXCEEDED, the caller's token CANCELLED.
/// </summary>
public sealed class RpcChannel : IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    private readonly ConcurrentDictionary<string, Uri> _uris = new(StringComparer.Ordinal);

    public RpcChannel(string target, RpcChannelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(target);
        Options = options ?? new RpcChannelOptions();
        Address = ParseTarget(target);
        HttpMessageHandler handler = Options.HttpHandler ?? CreateHandler(Options);
        _invoker = new HttpMessageInvoker(handler, disposeHandler: Options.HttpHandler is null);
    }

    /// <summary>The base address, "http://127.0.0.1:7000/".</summary>
    public Uri Address { get; }

    public RpcChannelOptions Options { get; }

    internal TimeProvider TimeProvider => Options.TimeProvider;

    internal HttpMessageInvoker Invoker => _invoker;

    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(RpcMethod<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        using ClientCall<TRequest, TResponse> call = Start(method, MethodType.Unary, options, request);
        return await call.GetSingleResponseAsync().ConfigureAwait(false);
    }

    /// <summary>A unary call that also returns the response headers and trailers.</summary>
    public async Task<RpcResponse<TResponse>> UnaryWithMetadataAsync<TRequest, TResponse>(RpcMethod<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        using ClientCall<TRequest, TResponse> call = Start(method, MethodType.Unary, options, request);
        TResponse response = await call.GetSingleResponseAsync().ConfigureAwait(false);
        Metadata headers = await call.ResponseHeadersAsync.ConfigureAwait(false);
        return new RpcResponse<TResponse>(response, headers, call.GetTrailers());
    }

    public ServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(RpcMethod<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        ClientCall<TRequest, TResponse> call = Start(method, MethodType.ServerStreaming, options, request);
        return new ServerStreamingCall<TResponse>(call, call);
    }

    public ClientStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(RpcMethod<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        ClientCall<TRequest, TResponse> call = Start(method, MethodType.ClientStreaming, options, null);
        return new ClientStreamingCall<TRequest, TResponse>(call, call, call.GetSingleResponseAsync);
    }

    public DuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(RpcMethod<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        ClientCall<TRequest, TResponse> call = Start(method, MethodType.DuplexStreaming, options, null);
        return new DuplexStreamingCall<TRequest, TResponse>(call, call, call);
    }

    public void Dispose() => _invoker.Dispose();

    internal Uri UriFor(string path) => _uris.GetOrAdd(path, static (p, baseUri) => new Uri(baseUri, p), Address);

    private ClientCall<TRequest, TResponse> Start<TRequest, TResponse>(RpcMethod<TRequest, TResponse> method, MethodType expected, CallOptions options, TRequest? request)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Type != expected)
        {
            throw new ArgumentException($"{method.Path} is {method.Type}; it cannot be called as {expected}.", nameof(method));
        }

        var call = new ClientCall<TRequest, TResponse>(this, method, options, alwaysCancellable: expected != MethodType.Unary);
        call.Start(request);
        return call;
    }

    private static Uri ParseTarget(string target)
    {
        string text = target.Trim();
        if (!text.Contains("://", StringComparison.Ordinal))
        {
            text = "http://" + text;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.IsDefaultPort && !target.Contains(':'))
        {
            throw new FormatException($"'{target}' is not a gRPC target: use \"host:port\", \"http://host:port\" or \"https://host:port\".");
        }

        return new Uri(uri.GetLeftPart(UriPartial.Authority) + "/");
    }

    private static SocketsHttpHandler CreateHandler(RpcChannelOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = options.ConnectTimeout,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = options.KeepAlivePingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
        };
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            RemoteCertificateValidationCallback = options.ServerCertificateValidation,
        };
        return handler;
    }
}
