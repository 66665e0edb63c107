namespace Fabric.Rpc.Server;

/// <summary>Handles a unary call: one request, one response.</summary>
public delegate Task<TResponse> UnaryHandler<TRequest, TResponse>(TRequest request, ServerCallContext context);
