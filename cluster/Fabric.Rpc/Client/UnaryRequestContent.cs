using System.Buffers;
using System.Net;
using Fabric.Rpc.Protocol;
using Google.Protobuf;

namespace Fabric.Rpc.Client;

/// <summary>
/// The body of a call with exactly one request message: the framed message, then END_STREAM. Serialized
/// into a pooled buffer each time HttpClient asks (it may ask again when it retries on a fresh connection).
/// </summary>
internal sealed class UnaryRequestContent : HttpContent
{
    private readonly IMessage _message;
    private readonly int _size;

    public UnaryRequestContent(IMessage message, int size)
    {
        _message = message;
        _size = size;
        Headers.TryAddWithoutValidation("Content-Type", GrpcHeaders.ContentType);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        int length = GrpcFrame.HeaderLength + _size;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            GrpcFrame.Write(buffer, _message, _size);
            await stream.WriteAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        // No content-length: gRPC bodies are framed by their own length prefixes.
        length = -1;
        return false;
    }
}
