using Fabric.Rpc.Streams;

namespace Fabric.Rpc.Server;

/// <summary>Handles a client-streaming call: reads the request stream, returns one response.</summary>
public delegate Task<TResponse> ClientStreamingHandler<TRequest, TResponse>(
    IAsyncStreamReader<TRequest> requestStream, ServerCallContext context);
