using Fabric.Rpc.Streams;

namespace Fabric.Rpc.Server;

/// <summary>Handles a bidirectional-streaming call: both streams are independent and open until the handler returns.</summary>
public delegate Task DuplexStreamingHandler<TRequest, TResponse>(
    IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context);
