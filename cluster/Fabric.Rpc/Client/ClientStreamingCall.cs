using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;

namespace Fabric.Rpc.Client;

/// <summary>
/// A client-streaming call in progress: write to <see cref="RequestStream"/>, CompleteAsync it, then
/// await <see cref="ResponseAsync"/> (RpcException when the call fails). Dispose cancels the call if it
/// has not ended.
/// </summary>
public sealed class ClientStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly ClientCallBase _call;
    private readonly Func<Task<TResponse>> _response;

    internal ClientStreamingCall(ClientCallBase call, IClientStreamWriter<TRequest> requestStream, Func<Task<TResponse>> response)
    {
        _call = call;
        RequestStream = requestStream;
        _response = response;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public Task<TResponse> ResponseAsync => _response();

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}
