using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace Fabric.Rpc.Server;

/// <summary>
/// One call on the server, typed: the context handed to the handler is also its request stream and
/// its response stream (one object per call).
/// </summary>
internal sealed class ServerCall<TRequest, TResponse> : ServerCallContext, IAsyncStreamReader<TRequest>, IServerStreamWriter<TResponse>, IEncodedStreamWriter
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly MessageParser<TRequest> _parser;
    private TRequest? _current;

    public ServerCall(HttpContext http, string method, MessageParser<TRequest> parser, RpcServerOptions options, TimeSpan? timeout)
        : base(http, method, options, timeout)
    {
        _parser = parser;
    }

    public TRequest Current => _current ?? throw new InvalidOperationException("No message: call MoveNextAsync first.");

    public async ValueTask<bool> MoveNextAsync(CancellationToken cancellationToken = default)
    {
        _current = await ReadMessageAsync(_parser, cancellationToken).ConfigureAwait(false);
        return _current is not null;
    }

    public ValueTask WriteAsync(TResponse message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return WriteMessageAsync(message, cancellationToken);
    }

    public ValueTask WriteEncodedAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default) =>
        WriteEncodedMessageAsync(message, cancellationToken);

    /// <summary>Unary and server-streaming requests: exactly one message, then the end of the stream.</summary>
    public async Task<TRequest> ReadSingleRequestAsync()
    {
        TRequest? request = await ReadMessageAsync(_parser, CancellationToken).ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, $"No request message: {Method} takes exactly one.");
        if (await ReadMessageAsync(_parser, CancellationToken).ConfigureAwait(false) is not null)
        {
            throw new RpcException(StatusCode.Internal, $"More than one request message: {Method} takes exactly one.");
        }

        return request;
    }
}
