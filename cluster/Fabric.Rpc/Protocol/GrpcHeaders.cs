namespace Fabric.Rpc.Protocol;

/// <summary>Header names and values of the gRPC over HTTP/2 protocol.</summary>
internal static class GrpcHeaders
{
    public const string ContentType = "application/grpc";
    public const string Status = "grpc-status";
    public const string Message = "grpc-message";
    public const string Timeout = "grpc-timeout";
    public const string Encoding = "grpc-encoding";
    public const string AcceptEncoding = "grpc-accept-encoding";
    public const string UserAgent = "grpc-dotnet-fabric/1.0";

    /// <summary>"application/grpc", "application/grpc+proto", "application/grpc;..." (case-insensitive).</summary>
    public static bool IsGrpcContentType(string? contentType) =>
        contentType is not null
        && contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase)
        && (contentType.Length == ContentType.Length || contentType[ContentType.Length] is '+' or ';');
}
