namespace Fabric.Rpc.Streams;

/// <summary>
/// The server's response stream: each message is written and flushed before the returned task
/// completes (so back-pressure from a slow client reaches the handler). Throws RpcException once the
/// call is over (deadline, client cancellation).
/// </summary>
public interface IServerStreamWriter<in T>
{
    ValueTask WriteAsync(T message, CancellationToken cancellationToken = default);
}
