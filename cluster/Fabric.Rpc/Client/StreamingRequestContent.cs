using System.Net;
using Fabric.Rpc.Protocol;

namespace Fabric.Rpc.Client;

/// <summary>
/// The body of a client- or bidi-streaming call: HttpClient hands us the HTTP/2 request stream
/// (SerializeToStreamAsync) and waits; messages are written to it as the application writes them;
/// completing the task sends END_STREAM. HTTP/2 lets the response start before this body ends
/// (full duplex), which is what SendAsync returns on.
/// </summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StreamingRequestContent() => Headers.TryAddWithoutValidation("Content-Type", GrpcHeaders.ContentType);

    /// <summary>The request stream, once HttpClient has opened it.</summary>
    public Task<Stream> StreamAsync => _stream.Task;

    /// <summary>Ends the request stream (END_STREAM).</summary>
    public void Complete() => _done.TrySetResult();

    /// <summary>The call is over without a clean end: pending and later writes fail, HttpClient lets go.</summary>
    public void Abort(Exception reason)
    {
        _stream.TrySetException(reason);
        _done.TrySetCanceled();
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (!_stream.TrySetResult(stream))
        {
            // A retry on a new connection after messages may already have gone out: not safe to replay.
            throw new InvalidOperationException("A streaming request cannot be sent twice.");
        }

        using CancellationTokenRegistration registration =
            cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetCanceled(), _done);
        await _done.Task.ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}
