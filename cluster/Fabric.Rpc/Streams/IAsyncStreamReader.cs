namespace Fabric.Rpc.Streams;

/// <summary>
/// A stream of incoming messages (the server's request stream, the client's response stream).
/// MoveNextAsync returns false at the clean end of the stream; a failed call throws RpcException.
/// One MoveNextAsync at a time.
/// </summary>
public interface IAsyncStreamReader<out T>
{
    /// <summary>The message read by the last successful MoveNextAsync.</summary>
    T Current { get; }

    ValueTask<bool> MoveNextAsync(CancellationToken cancellationToken = default);
}
