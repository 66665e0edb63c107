namespace Fabric.Rpc.Protocol;

/// <summary>
/// A call that ended with a non-OK status. Thrown by the client for every failed call (server status,
/// deadline, cancellation, transport failure mapped to a status) and thrown by server handlers to end a
/// call with a chosen status and trailers: the server passes it through unchanged.
/// </summary>
public sealed class RpcException : Exception
{
    public RpcException(StatusCode statusCode, string detail, Metadata? trailers = null, Exception? innerException = null)
        : this(new Status(statusCode, detail), trailers, innerException)
    {
    }

    public RpcException(Status status, Metadata? trailers = null, Exception? innerException = null)
        : base(status.ToString(), innerException)
    {
        Status = status;
        Trailers = trailers ?? Metadata.Empty;
    }

    public Status Status { get; }

    public StatusCode StatusCode => Status.Code;

    /// <summary>The detail (grpc-message), decoded.</summary>
    public string Detail => Status.Detail;

    /// <summary>The trailers that came with the status (custom metadata, e.g. a redirect address).</summary>
    public Metadata Trailers { get; }
}
