using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;

namespace Fabric.Rpc.Client;

/// <summary>
/// A server-streaming call in progress: read <see cref="ResponseStream"/> to its end (false) or to its
/// failure (RpcException); then <see cref="GetStatus"/> and <see cref="GetTrailers"/> are known.
/// Dispose cancels the call if it has not ended.
/// </summary>
public sealed class ServerStreamingCall<TResponse> : IDisposable
{
    private readonly ClientCallBase _call;

    internal ServerStreamingCall(ClientCallBase call, IAsyncStreamReader<TResponse> responseStream)
    {
        _call = call;
        ResponseStream = responseStream;
    }

    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}
