using Fabric.Rpc.Protocol;

namespace Fabric.Rpc.Client;

/// <summary>A unary response with the metadata that came with it.</summary>
public sealed record RpcResponse<TResponse>(TResponse Response, Metadata Headers, Metadata Trailers);
