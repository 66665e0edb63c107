using Microsoft.Extensions.Logging;

namespace Fabric.Rpc.Server;

internal static partial class ServerLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "gRPC server listening on {Endpoints} (TLS: {Tls}); HTTP on {HttpEndpoints}; {MethodCount} methods")]
    public static partial void Started(ILogger logger, string endpoints, bool tls, string httpEndpoints, int methodCount);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Handler of {Method} failed; the call ends with INTERNAL")]
    public static partial void HandlerFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Call {Method} ended with {Code}: {Detail}")]
    public static partial void CallFailed(ILogger logger, string method, Protocol.StatusCode code, string detail);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "Handler of {Method} kept running past its deadline and then failed")]
    public static partial void LateHandlerFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "Could not send the status of {Method}: the stream is gone")]
    public static partial void StatusNotSent(ILogger logger, string method, Exception exception);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "gRPC server stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "HTTP GET {Path} failed")]
    public static partial void HttpRouteFailed(ILogger logger, string path, Exception exception);
}
