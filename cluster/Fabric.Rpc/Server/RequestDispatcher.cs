using System.Collections.Frozen;
using Fabric.Rpc.Protocol;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Fabric.Rpc.Server;

/// <summary>
/// The one request delegate of the server: routes gRPC calls by :path to their bound method and plain
/// GETs to their route, and turns every way a call can end into exactly one status.
///
///   client                      dispatcher                        handler
///     | HEADERS :path, timeout ->|  lookup (UNIMPLEMENTED if none)   |
///     | DATA msg, END_STREAM --->|  call = method.CreateCall -------->|  read / write via call
///     |                          |  await handler | deadline (first)  |
///     |<- HEADERS, DATA msg -----|  unary: response + status          |
///     |<- HEADERS grpc-status ---|  (or trailers-only if nothing sent)|
/// </summary>
internal sealed class RequestDispatcher
{
    private readonly FrozenDictionary<string, ServerMethod> _methods;
    private readonly FrozenSet<string> _services;
    private readonly FrozenDictionary<string, Func<HttpContext, Task>> _getRoutes;
    private readonly RpcServerOptions _options;
    private readonly ILogger _logger;

    public RequestDispatcher(IEnumerable<ServerMethod> methods, IReadOnlyDictionary<string, Func<HttpContext, Task>> getRoutes,
        RpcServerOptions options, ILogger logger)
    {
        _methods = methods.ToFrozenDictionary(m => m.Path, StringComparer.Ordinal);
        _services = _methods.Values.Select(m => m.Descriptor.Service.FullName).ToFrozenSet(StringComparer.Ordinal);
        _getRoutes = getRoutes.ToFrozenDictionary(StringComparer.Ordinal);
        _options = options;
        _logger = logger;
    }

    public IReadOnlyCollection<string> MethodPaths => _methods.Keys;

    public Task HandleAsync(HttpContext http)
    {
        HttpRequest request = http.Request;
        if (HttpMethods.IsPost(request.Method))
        {
            if (GrpcHeaders.IsGrpcContentType(request.ContentType))
            {
                return HandleGrpcAsync(http);
            }

            // The spec's answer to a non-gRPC POST: 415, so an HTTP client never mistakes a gRPC error (200) for success.
            http.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return Task.CompletedTask;
        }

        if ((HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
            && _getRoutes.TryGetValue(request.Path.Value ?? "/", out Func<HttpContext, Task>? route))
        {
            return RunRouteAsync(http, route);
        }

        http.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    private async Task RunRouteAsync(HttpContext http, Func<HttpContext, Task> route)
    {
        try
        {
            await route(http).ConfigureAwait(false);
        }
        catch (Exception e) when (!http.RequestAborted.IsCancellationRequested)
        {
            ServerLog.HttpRouteFailed(_logger, http.Request.Path.Value ?? "", e);
            if (!http.Response.HasStarted)
            {
                http.Response.StatusCode = StatusCodes.Status500InternalServerError;
            }
        }
    }

    private async Task HandleGrpcAsync(HttpContext http)
    {
        string path = http.Request.Path.Value ?? "";
        if (!_methods.TryGetValue(path, out ServerMethod? method))
        {
            WriteTrailersOnly(http, new Status(StatusCode.Unimplemented, UnknownMethodDetail(path)));
            return;
        }

        TimeSpan? timeout = null;
        string? timeoutHeader = ServerCallContext.HeaderOrNull(http.Request.Headers, GrpcHeaders.Timeout);
        if (timeoutHeader is not null)
        {
            if (!GrpcTimeout.TryParse(timeoutHeader, out TimeSpan parsed))
            {
                WriteTrailersOnly(http, new Status(StatusCode.Internal, $"Malformed grpc-timeout '{timeoutHeader}'."));
                return;
            }

            timeout = parsed;
        }

        ServerCallContext call = method.CreateCall(http, _options, timeout);
        Task<IMessage?> run;
        try
        {
            run = method.RunAsync(call);
        }
        catch (Exception e)
        {
            run = Task.FromException<IMessage?>(e);
        }

        if (call.HasDeadlineTimer && !run.IsCompleted)
        {
            Task first = await Task.WhenAny(run, call.DeadlineReached).ConfigureAwait(false);
            if (first != run)
            {
                if (call.TryBeginFinish())
                {
                    await FinishAsync(call, method, new Status(StatusCode.DeadlineExceeded, "Deadline exceeded."), null, null).ConfigureAwait(false);
                }

                // The handler saw its token fire; let it wind down on its own and release the call after.
                _ = ObserveLateHandlerAsync(run, call, method);
                return;
            }
        }

        IMessage? response = null;
        Status status;
        Metadata? trailers = null;
        try
        {
            response = await run.ConfigureAwait(false);
            status = call.Status;
        }
        catch (RpcException e)
        {
            status = e.Status;
            trailers = e.Trailers;
        }
        catch (OperationCanceledException) when (call.CancellationToken.IsCancellationRequested)
        {
            status = call.DeadlineExceeded
                ? new Status(StatusCode.DeadlineExceeded, "Deadline exceeded.")
                : new Status(StatusCode.Cancelled, "The call was cancelled by the client.");
        }
        catch (Exception e)
        {
            ServerLog.HandlerFailed(_logger, method.Path, e);
            status = new Status(StatusCode.Internal, $"Exception was thrown by handler. {e.GetType().Name}: {e.Message}");
        }

        if (call.TryBeginFinish())
        {
            await FinishAsync(call, method, status, trailers, status.IsOk ? response : null).ConfigureAwait(false);
        }

        call.Dispose();
    }

    private async Task FinishAsync(ServerCallContext call, ServerMethod method, Status status, Metadata? trailers, IMessage? response)
    {
        if (!status.IsOk)
        {
            ServerLog.CallFailed(_logger, method.Path, status.Code, status.Detail);
        }

        try
        {
            await call.FinishAsync(status, trailers, response).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException)
        {
            // The client is gone (reset, connection closed): there is nobody to tell.
            ServerLog.StatusNotSent(_logger, method.Path, e);
        }
    }

    private async Task ObserveLateHandlerAsync(Task run, ServerCallContext call, ServerMethod method)
    {
        try
        {
            await run.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            ServerLog.LateHandlerFailed(_logger, method.Path, e);
        }
        finally
        {
            call.Dispose();
        }
    }

    private string UnknownMethodDetail(string path)
    {
        int slash = path.LastIndexOf('/');
        string service = slash > 0 ? path[1..slash] : path;
        return _services.Contains(service)
            ? $"Unknown method {path[(slash + 1)..]} of service {service}."
            : $"Unknown service {service} (path '{path}').";
    }

    private static void WriteTrailersOnly(HttpContext http, Status status)
    {
        HttpResponse response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcHeaders.ContentType;
        response.Headers[GrpcHeaders.Status] = ((int)status.Code).ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers[GrpcHeaders.Message] = StatusMessageEncoding.Encode(status.Detail);
    }
}
