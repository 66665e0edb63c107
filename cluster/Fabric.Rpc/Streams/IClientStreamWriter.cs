namespace Fabric.Rpc.Streams;

/// <summary>
/// The client's request stream: WriteAsync sends and flushes one message (one at a time);
/// CompleteAsync half-closes the request (END_STREAM) so the server sees the end of its stream.
/// A write after the call ended throws RpcException with the call's status.
/// </summary>
public interface IClientStreamWriter<in T>
{
    ValueTask WriteAsync(T message, CancellationToken cancellationToken = default);

    ValueTask CompleteAsync();
}
