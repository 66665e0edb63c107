using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Fabric.Rpc.Protocol;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace Fabric.Rpc.Server;

/// <summary>
/// What a handler knows about its call: method, peer, deadline, the CancellationToken that fires when
/// the client cancels (RST_STREAM) or the deadline passes, request metadata, response headers and
/// trailers, and the status to end with.
///
/// Contract kept with the dispatcher: exactly one party ends the call (writes the status): the
/// dispatcher when the handler returns or throws, or the deadline path when the deadline passes
/// first. Before the deadline path writes its status it waits until the handler has no read or write
/// in flight (they are cancelled by the token), so the handler never touches the HTTP/2 stream after
/// the call has ended: later reads and writes throw RpcException(DEADLINE_EXCEEDED).
/// </summary>
public class ServerCallContext : IDisposable
{
    private static readonly TimeSpan MaxTimerDelay = TimeSpan.FromDays(30);

    private readonly HttpContext _http;
    private readonly RpcServerOptions _options;
    private readonly CancellationTokenSource? _deadlineCts;
    private readonly CancellationTokenSource? _linkedCts;
    private readonly TaskCompletionSource? _deadlineReached;
    private readonly SemaphoreSlim? _readGate;
    private readonly SemaphoreSlim? _writeGate;
    private Metadata? _requestHeaders;
    private Metadata? _responseTrailers;
    private Metadata? _pendingResponseHeaders;
    private string? _peer;
    private int _finishing;
    private bool _finished;
    private bool _responseStarted;

    private protected ServerCallContext(HttpContext http, string method, RpcServerOptions options, TimeSpan? timeout)
    {
        _http = http;
        _options = options;
        Method = method;
        Status = Status.Ok;
        Reader = new MessageReader(http.Request.BodyReader, options.MaxReceiveMessageBytes,
            HeaderOrNull(http.Request.Headers, "grpc-encoding"), "request");
        if (timeout is { } t)
        {
            Deadline = options.TimeProvider.GetUtcNow() + t;
            _readGate = new SemaphoreSlim(1, 1);
            _writeGate = new SemaphoreSlim(1, 1);
            _deadlineReached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (t <= MaxTimerDelay)
            {
                _deadlineCts = new CancellationTokenSource(t, options.TimeProvider);
                _linkedCts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _deadlineCts.Token);
                _deadlineCts.Token.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetResult(), _deadlineReached);
                CancellationToken = _linkedCts.Token;
            }
            else
            {
                CancellationToken = http.RequestAborted;
            }
        }
        else
        {
            CancellationToken = http.RequestAborted;
        }
    }

    /// <summary>The called method's path, "/fabric.Monitor/Join".</summary>
    public string Method { get; }

    /// <summary>The client's address, "ipv4:127.0.0.1:50312" or "ipv6:[::1]:50312".</summary>
    public string Peer => _peer ??= FormatPeer(_http.Connection.RemoteIpAddress, _http.Connection.RemotePort);

    /// <summary>When the client gives up (from grpc-timeout), or null for no deadline.</summary>
    public DateTimeOffset? Deadline { get; }

    /// <summary>Fires when the client cancels, the connection drops, or the deadline passes.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The request's custom metadata.</summary>
    public Metadata RequestHeaders => _requestHeaders ??= ReadMetadata(_http.Request.Headers);

    /// <summary>Custom metadata sent with the status at the end of the call.</summary>
    public Metadata ResponseTrailers => _responseTrailers ??= new Metadata();

    /// <summary>The status the call ends with when the handler returns normally (throwing RpcException does the same).</summary>
    public Status Status { get; set; }

    /// <summary>True once the deadline has passed (also when the client's own deadline cancellation arrived first).</summary>
    public bool DeadlineExceeded =>
        Deadline is { } deadline && (_deadlineCts is { IsCancellationRequested: true } || _options.TimeProvider.GetUtcNow() >= deadline);

    /// <summary>The underlying HTTP request; valid only while the call runs.</summary>
    public HttpContext HttpContext => _http;

    internal MessageReader Reader { get; }

    internal bool HasDeadlineTimer => _deadlineReached is not null && _deadlineCts is not null;

    internal Task DeadlineReached => _deadlineReached?.Task ?? Task.CompletedTask;

    /// <summary>
    /// Sends the response headers now, with this metadata, instead of with the first message. At most
    /// once, before the first message.
    /// </summary>
    public async Task WriteResponseHeadersAsync(Metadata headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            ThrowIfFinished();
            if (_responseStarted)
            {
                throw new InvalidOperationException("Response headers have already been sent.");
            }

            _pendingResponseHeaders = headers;
            await StartResponseAsync().ConfigureAwait(false);
        }
        finally
        {
            ExitWrite();
        }
    }

    public void Dispose()
    {
        _linkedCts?.Dispose();
        _deadlineCts?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Wins the right to end the call; false when another party already did.</summary>
    internal bool TryBeginFinish() => Interlocked.Exchange(ref _finishing, 1) == 0;

    /// <summary>
    /// Ends the call: waits for the handler's in-flight I/O to stop, then writes the unary response (if
    /// any) and the status: in trailers after messages, or as a trailers-only response when nothing was
    /// sent yet. The caller must have won <see cref="TryBeginFinish"/>.
    /// </summary>
    internal async Task FinishAsync(Status status, Metadata? trailers, IMessage? response)
    {
        if (_writeGate is not null && _readGate is not null)
        {
            // In-flight reads and writes observe the cancelled token and leave promptly; a handler stuck
            // in something else cannot hold the stream hostage: after the grace the stream is aborted.
            bool gotWrite = await _writeGate.WaitAsync(_options.ShutdownTimeout).ConfigureAwait(false);
            bool gotRead = await _readGate.WaitAsync(_options.ShutdownTimeout).ConfigureAwait(false);
            _finished = true;
            if (gotWrite)
            {
                _writeGate.Release();
            }

            if (gotRead)
            {
                _readGate.Release();
            }

            if (!gotWrite || !gotRead)
            {
                _http.Abort();
                return;
            }
        }
        else
        {
            _finished = true;
        }

        HttpResponse httpResponse = _http.Response;
        if (response is not null && status.IsOk)
        {
            int size = response.CalculateSize();
            if (size > _options.MaxSendMessageBytes)
            {
                status = new Status(StatusCode.ResourceExhausted,
                    $"Sending message larger than max ({size} vs. {_options.MaxSendMessageBytes} bytes).");
            }
            else
            {
                if (!_responseStarted)
                {
                    ApplyResponseHeaders();
                    _responseStarted = true;
                }

                GrpcFrame.Write(httpResponse.BodyWriter, response, size);
            }
        }

        if (_responseStarted)
        {
            IHeaderDictionary? trailerHeaders = _http.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
            if (trailerHeaders is null || trailerHeaders.IsReadOnly)
            {
                // The HTTP/2 stream cannot carry trailers any more (aborted): nothing can reach the client.
                _http.Abort();
                return;
            }

            WriteStatus(trailerHeaders, status, trailers);
        }
        else
        {
            // Trailers-Only: HTTP 200, content-type, status and metadata in the one HEADERS frame, END_STREAM.
            if (httpResponse.HasStarted)
            {
                _http.Abort();
                return;
            }

            ApplyResponseHeaders();
            WriteStatus(httpResponse.Headers, status, trailers);
        }
    }

    private protected async ValueTask<TMessage?> ReadMessageAsync<TMessage>(MessageParser<TMessage> parser, CancellationToken cancellationToken)
        where TMessage : class, IMessage<TMessage>
    {
        await EnterReadAsync().ConfigureAwait(false);
        CancellationTokenSource? linked = Link(cancellationToken);
        try
        {
            ThrowIfFinished();
            return await Reader.ReadAsync(parser, linked?.Token ?? CancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            // Kestrel fails the body with "the client reset the request stream" (RST_STREAM) or a dropped
            // connection, sometimes before RequestAborted fires: that is the client going away, not a bug.
            throw new RpcException(StatusCode.Cancelled, "The client reset the stream.", innerException: e);
        }
        finally
        {
            linked?.Dispose();
            ExitRead();
        }
    }

    private protected ValueTask WriteMessageAsync(IMessage message, CancellationToken cancellationToken) =>
        WriteFrameAsync(message.CalculateSize(), message, default, cancellationToken);

    /// <summary>Sends protobuf bytes the caller serialized once for many streams: header + a copy of them.</summary>
    private protected ValueTask WriteEncodedMessageAsync(ReadOnlyMemory<byte> encoded, CancellationToken cancellationToken) =>
        WriteFrameAsync(encoded.Length, null, encoded, cancellationToken);

    private async ValueTask WriteFrameAsync(int size, IMessage? message, ReadOnlyMemory<byte> encoded, CancellationToken cancellationToken)
    {
        if (size > _options.MaxSendMessageBytes)
        {
            throw new RpcException(StatusCode.ResourceExhausted,
                $"Sending message larger than max ({size} vs. {_options.MaxSendMessageBytes} bytes).");
        }

        await EnterWriteAsync().ConfigureAwait(false);
        CancellationTokenSource? linked = Link(cancellationToken);
        try
        {
            ThrowIfFinished();
            CancellationToken token = linked?.Token ?? CancellationToken;
            token.ThrowIfCancellationRequested();
            if (!_responseStarted)
            {
                await StartResponseAsync().ConfigureAwait(false);
            }

            PipeWriter writer = _http.Response.BodyWriter;
            if (message is not null)
            {
                GrpcFrame.Write(writer, message, size);
            }
            else
            {
                Span<byte> header = writer.GetSpan(GrpcFrame.HeaderLength);
                GrpcFrame.WriteHeader(header, size);
                writer.Advance(GrpcFrame.HeaderLength);
                writer.Write(encoded.Span);
            }

            FlushResult result;
            try
            {
                result = await writer.FlushAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException || (e is OperationCanceledException && !token.IsCancellationRequested))
            {
                // The stream or connection is gone (ConnectionAbortedException is an OperationCanceledException).
                throw new RpcException(StatusCode.Cancelled, "The client reset the stream.", innerException: e);
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException(token);
            }
        }
        finally
        {
            linked?.Dispose();
            ExitWrite();
        }
    }

    private CancellationTokenSource? Link(CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled && cancellationToken != CancellationToken
            ? CancellationTokenSource.CreateLinkedTokenSource(CancellationToken, cancellationToken)
            : null;

    private async ValueTask StartResponseAsync()
    {
        ApplyResponseHeaders();
        _responseStarted = true;
        await _http.Response.StartAsync(CancellationToken).ConfigureAwait(false);
    }

    private void ApplyResponseHeaders()
    {
        HttpResponse response = _http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcHeaders.ContentType;
        if (_pendingResponseHeaders is { } headers)
        {
            foreach (Metadata.Entry entry in headers)
            {
                response.Headers.Append(entry.Key, entry.WireValue);
            }
        }
    }

    private void WriteStatus(IHeaderDictionary target, Status status, Metadata? trailers)
    {
        target[GrpcHeaders.Status] = ((int)status.Code).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (!string.IsNullOrEmpty(status.Detail))
        {
            target[GrpcHeaders.Message] = StatusMessageEncoding.Encode(status.Detail);
        }

        AppendMetadata(target, _responseTrailers);
        AppendMetadata(target, trailers);
    }

    private static void AppendMetadata(IHeaderDictionary target, Metadata? metadata)
    {
        if (metadata is null)
        {
            return;
        }

        foreach (Metadata.Entry entry in metadata)
        {
            target.Append(entry.Key, entry.WireValue);
        }
    }

    private ValueTask EnterReadAsync() => _readGate is null ? default : new ValueTask(_readGate.WaitAsync());

    private void ExitRead() => _readGate?.Release();

    private ValueTask EnterWriteAsync() => _writeGate is null ? default : new ValueTask(_writeGate.WaitAsync());

    private void ExitWrite() => _writeGate?.Release();

    private void ThrowIfFinished()
    {
        if (_finished)
        {
            throw DeadlineExceeded
                ? new RpcException(StatusCode.DeadlineExceeded, "Deadline exceeded: the call is over.")
                : new RpcException(StatusCode.Cancelled, "The call is over.");
        }
    }

    internal static string? HeaderOrNull(IHeaderDictionary headers, string name)
    {
        StringValues values = headers[name];
        return values.Count == 0 ? null : values.ToString();
    }

    private static Metadata ReadMetadata(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (KeyValuePair<string, StringValues> header in headers)
        {
            if (Metadata.IsReserved(header.Key) || header.Key.Equals("user-agent", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (string? value in header.Value)
            {
                if (value is not null)
                {
                    metadata.AddFromWire(header.Key, value);
                }
            }
        }

        return metadata;
    }

    private static string FormatPeer(IPAddress? address, int port) => address switch
    {
        null => "unknown",
        { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } when address.IsIPv4MappedToIPv6 =>
            $"ipv4:{address.MapToIPv4()}:{port}",
        { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } => $"ipv6:[{address}]:{port}",
        _ => $"ipv4:{address}:{port}",
    };
}
