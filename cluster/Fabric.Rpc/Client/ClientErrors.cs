using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Fabric.Rpc.Protocol;

namespace Fabric.Rpc.Client;

/// <summary>
/// Turns what HttpClient throws and what the response says outside gRPC into statuses, per the spec's
/// tables: RST_STREAM codes (CANCEL = CANCELLED, REFUSED_STREAM = UNAVAILABLE, ENHANCE_YOUR_CALM =
/// RESOURCE_EXHAUSTED, INADEQUATE_SECURITY = PERMISSION_DENIED, others INTERNAL), HTTP statuses
/// (http-grpc-status-mapping.md), and connection failures as UNAVAILABLE.
/// </summary>
internal static class ClientErrors
{
    public static Status FromException(Exception exception)
    {
        if (exception is RpcException rpc)
        {
            return rpc.Status;
        }

        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpProtocolException protocol)
            {
                return FromHttp2Error(protocol.ErrorCode, protocol.Message);
            }
        }

        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is SocketException or HttpRequestException or IOException or ObjectDisposedException)
            {
                return new Status(StatusCode.Unavailable, $"Connection failed: {Describe(exception)}");
            }
        }

        if (exception is OperationCanceledException)
        {
            return new Status(StatusCode.Cancelled, "The call was cancelled.");
        }

        return new Status(StatusCode.Internal, $"Call failed: {Describe(exception)}");
    }

    public static Status FromHttp2Error(long errorCode, string message) => errorCode switch
    {
        0x8 => new Status(StatusCode.Cancelled, $"The server cancelled the stream (RST_STREAM CANCEL): {message}"),
        0x7 => new Status(StatusCode.Unavailable, $"The server refused the stream (REFUSED_STREAM): {message}"),
        0xb => new Status(StatusCode.ResourceExhausted, $"The server asked to slow down (ENHANCE_YOUR_CALM): {message}"),
        0xc => new Status(StatusCode.PermissionDenied, $"Inadequate security (INADEQUATE_SECURITY): {message}"),
        _ => new Status(StatusCode.Internal, $"HTTP/2 stream error 0x{errorCode:X}: {message}"),
    };

    public static StatusCode FromHttpStatus(HttpStatusCode code) => (int)code switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    private static string Describe(Exception exception)
    {
        string text = exception.Message;
        for (Exception? inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            text += " -> " + inner.Message;
        }

        return text;
    }
}
