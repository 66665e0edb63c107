using Fabric.Rpc.Streams;

namespace Fabric.Rpc.Server;

/// <summary>Handles a server-streaming call: one request, any number of responses written to the stream.</summary>
public delegate Task ServerStreamingHandler<TRequest, TResponse>(
    TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context);
