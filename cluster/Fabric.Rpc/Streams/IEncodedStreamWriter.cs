namespace Fabric.Rpc.Streams;

/// <summary>
/// A server response stream that also takes a message already serialized (the protobuf bytes, without
/// the 5-byte gRPC header), so one message sent on many streams is serialized once, not once per
/// stream. Same flush, size-limit and back-pressure contract as <see cref="IServerStreamWriter{T}"/>;
/// the caller promises the bytes are a valid encoding of the stream's response type.
/// </summary>
public interface IEncodedStreamWriter
{
    ValueTask WriteEncodedAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default);
}
