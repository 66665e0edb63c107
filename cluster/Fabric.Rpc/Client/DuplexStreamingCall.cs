using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;

namespace Fabric.Rpc.Client;

/// <summary>
/// A bidirectional call in progress: the two streams are independent (write and read concurrently);
/// CompleteAsync the request stream when done sending; read the response stream to its end for the
/// status. Dispose cancels the call if it has not ended.
/// </summary>
public sealed class DuplexStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly ClientCallBase _call;

    internal DuplexStreamingCall(ClientCallBase call, IClientStreamWriter<TRequest> requestStream, IAsyncStreamReader<TResponse> responseStream)
    {
        _call = call;
        RequestStream = requestStream;
        ResponseStream = responseStream;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}
