using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;
using Google.Protobuf;

namespace Fabric.Rpc.Client;

/// <summary>
/// One call on the client, all shapes.
///
///   app                    ClientCall                         server
///    | create -------------->| HEADERS :path, te, grpc-timeout ->|
///    | WriteAsync(m) ------->| DATA [0|len|m] (flush) ---------->|
///    | CompleteAsync ------->| DATA END_STREAM ----------------->|
///    | MoveNextAsync ------->|<----------------- HEADERS :200 ---|  (or trailers-only: status here)
///    |<----------- message --|<----------------- DATA [0|len|m] -|
///    |<------ false / throw -|<------- HEADERS grpc-status, END -|
///
/// Contract: the call ends exactly once with a status (from trailers, trailers-only headers, a
/// synthesized status for a broken response, or a local one: deadline, cancellation, transport
/// failure, message too large). When it ends early, the HTTP/2 stream is reset (RST_STREAM CANCEL)
/// so the server's handler sees cancellation. Reads are one at a time, writes are one at a time.
/// </summary>
internal sealed class ClientCall<TRequest, TResponse> : ClientCallBase, IAsyncStreamReader<TResponse>, IClientStreamWriter<TRequest>
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>, new()
{
    private static readonly StreamPipeReaderOptions PipeOptions = new(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024);

    private readonly RpcChannel _channel;
    private readonly RpcMethod<TRequest, TResponse> _method;
    private readonly CallOptions _options;
    private readonly DateTimeOffset? _deadline;
    private readonly CancellationTokenSource? _cts;
    private readonly CancellationToken _token;
    private readonly CancellationTokenRegistration _userRegistration;
    private readonly StreamingRequestContent? _requestContent;
    private readonly object _gate = new();
    private Task<bool>? _headersTask;
    private HttpResponseMessage? _response;
    private MessageReader? _reader;
    private Metadata? _responseHeaders;
    private Status? _status;
    private Metadata? _trailers;
    private TResponse? _current;
    private Task<TResponse>? _singleResponse;
    private volatile bool _userCancelled;
    private volatile bool _disposed;
    private int _writing;
    private bool _requestCompleted;

    public ClientCall(RpcChannel channel, RpcMethod<TRequest, TResponse> method, CallOptions options, bool alwaysCancellable)
    {
        _channel = channel;
        _method = method;
        _options = options;
        _deadline = options.ResolveDeadline(channel.TimeProvider);
        if (_deadline is not null || options.CancellationToken.CanBeCanceled || alwaysCancellable)
        {
            TimeSpan? remaining = _deadline - channel.TimeProvider.GetUtcNow();
            _cts = remaining is { } r && r <= TimeSpan.FromDays(30)
                ? new CancellationTokenSource(r > TimeSpan.Zero ? r : TimeSpan.Zero, channel.TimeProvider)
                : new CancellationTokenSource();
            _token = _cts.Token;
            if (options.CancellationToken.CanBeCanceled)
            {
                _userRegistration = options.CancellationToken.UnsafeRegister(static s => ((ClientCall<TRequest, TResponse>)s!).CancelByUser(), this);
            }
        }

        if (method.Type is MethodType.ClientStreaming or MethodType.DuplexStreaming)
        {
            _requestContent = new StreamingRequestContent();
        }
    }

    public TResponse Current => _current ?? throw new InvalidOperationException("No message: call MoveNextAsync first.");

    public override Task<Metadata> ResponseHeadersAsync => GetResponseHeadersAsync();

    /// <summary>Sends the request headers (and the single request of unary/server-streaming calls).</summary>
    public void Start(TRequest? request)
    {
        HttpContent content;
        if (_requestContent is not null)
        {
            content = _requestContent;
        }
        else
        {
            ArgumentNullException.ThrowIfNull(request);
            int size = request.CalculateSize();
            if (size > _channel.Options.MaxSendMessageBytes)
            {
                _headersTask = Task.FromResult(false);
                Finish(new Status(StatusCode.ResourceExhausted,
                    $"Sending message larger than max ({size} vs. {_channel.Options.MaxSendMessageBytes} bytes)."), Metadata.Empty);
                return;
            }

            content = new UnaryRequestContent(request, size);
        }

        if (_deadline is { } deadline && deadline <= _channel.TimeProvider.GetUtcNow())
        {
            _headersTask = Task.FromResult(false);
            Finish(new Status(StatusCode.DeadlineExceeded, "Deadline exceeded before the call started."), Metadata.Empty);
            _requestContent?.Abort(new RpcException(_status!.Value));
            return;
        }

        HttpRequestMessage message = CreateRequest(content);
        _headersTask = ReceiveHeadersAsync(message);
    }

    // ---- response side ----

    public async ValueTask<bool> MoveNextAsync(CancellationToken cancellationToken = default)
    {
        if (!await EnsureHeadersAsync().ConfigureAwait(false))
        {
            return EndOfStreamOrThrow();
        }

        if (_status is not null)
        {
            return EndOfStreamOrThrow();
        }

        TResponse? message;
        try
        {
            using CancellationTokenRegistration extra = Link(cancellationToken);
            message = await _reader!.ReadAsync(_method.ResponseParser, _token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Fail(e, cancellationToken.IsCancellationRequested);
            return EndOfStreamOrThrow();
        }

        if (message is not null)
        {
            _current = message;
            return true;
        }

        ReadTrailers();
        return EndOfStreamOrThrow();
    }

    /// <summary>Unary and client-streaming: the one response message, after which the call must end with OK.</summary>
    public Task<TResponse> GetSingleResponseAsync()
    {
        lock (_gate)
        {
            return _singleResponse ??= ReadSingleResponseAsync();
        }
    }

    private async Task<TResponse> ReadSingleResponseAsync()
    {
        if (!await MoveNextAsync().ConfigureAwait(false))
        {
            Finish(new Status(StatusCode.Internal, $"{_method.Path} ended with OK but without a response message."), _trailers ?? Metadata.Empty, force: true);
            EndOfStreamOrThrow();
        }

        TResponse response = _current!;
        if (await MoveNextAsync().ConfigureAwait(false))
        {
            Finish(new Status(StatusCode.Internal, $"{_method.Path} sent more than one response message."), Metadata.Empty);
            Abort();
            EndOfStreamOrThrow();
        }

        return response;
    }

    // ---- request side ----

    public async ValueTask WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_requestContent is null)
        {
            throw new InvalidOperationException($"{_method.Path} has no request stream.");
        }

        if (_requestCompleted)
        {
            throw new InvalidOperationException("The request stream was already completed.");
        }

        ThrowIfEnded();
        int size = message.CalculateSize();
        if (size > _channel.Options.MaxSendMessageBytes)
        {
            throw new RpcException(StatusCode.ResourceExhausted,
                $"Sending message larger than max ({size} vs. {_channel.Options.MaxSendMessageBytes} bytes).");
        }

        if (Interlocked.Exchange(ref _writing, 1) != 0)
        {
            throw new InvalidOperationException("Only one write at a time: await the previous WriteAsync.");
        }

        byte[]? buffer = null;
        try
        {
            using CancellationTokenRegistration extra = Link(cancellationToken);
            Stream stream = await _requestContent.StreamAsync.WaitAsync(_token).ConfigureAwait(false);
            int length = GrpcFrame.HeaderLength + size;
            buffer = ArrayPool<byte>.Shared.Rent(length);
            GrpcFrame.Write(buffer, message, size);
            await stream.WriteAsync(buffer.AsMemory(0, length), _token).ConfigureAwait(false);
            await stream.FlushAsync(_token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException)
        {
            // The server may have ended the call (its status is the real answer), or the transport failed.
            if (_status is { } status)
            {
                throw new RpcException(status, _trailers);
            }

            if (_userCancelled || DeadlineFired() || cancellationToken.IsCancellationRequested)
            {
                Fail(e, cancellationToken.IsCancellationRequested);
                throw new RpcException(_status!.Value, _trailers);
            }

            throw new RpcException(ClientErrors.FromException(e), innerException: e);
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            Volatile.Write(ref _writing, 0);
        }
    }

    public ValueTask CompleteAsync()
    {
        if (_requestContent is null)
        {
            throw new InvalidOperationException($"{_method.Path} has no request stream.");
        }

        _requestCompleted = true;
        _requestContent.Complete();
        return default;
    }

    // ---- end of call ----

    public override Status GetStatus() =>
        _status ?? throw new InvalidOperationException("The call is still running: its status is known once the response stream has ended.");

    public override Metadata GetTrailers() =>
        _trailers ?? throw new InvalidOperationException("The call is still running: trailers arrive at its end.");

    public override void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_status is null)
        {
            Finish(new Status(StatusCode.Cancelled, "The call was disposed before it ended."), Metadata.Empty);
            Abort();
        }

        _userRegistration.Dispose();
        _response?.Dispose();
        _cts?.Dispose();
    }

    private HttpRequestMessage CreateRequest(HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _channel.UriFor(_method.Path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        HttpRequestHeaders headers = request.Headers;
        headers.TryAddWithoutValidation("te", "trailers");
        if (_deadline is { } deadline)
        {
            headers.TryAddWithoutValidation(GrpcHeaders.Timeout, GrpcTimeout.Encode(deadline - _channel.TimeProvider.GetUtcNow()));
        }

        headers.TryAddWithoutValidation("user-agent", GrpcHeaders.UserAgent);
        if (_options.Headers is { } metadata)
        {
            foreach (Metadata.Entry entry in metadata)
            {
                headers.TryAddWithoutValidation(entry.Key, entry.WireValue);
            }
        }

        return request;
    }

    private async Task<bool> ReceiveHeadersAsync(HttpRequestMessage request)
    {
        HttpResponseMessage response;
        try
        {
            response = await _channel.Invoker.SendAsync(request, _token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Fail(e, userTokenFired: false);
            return false;
        }

        _response = response;
        if (_status is not null)
        {
            // Cancelled or disposed while the headers were on their way.
            response.Dispose();
            return false;
        }

        _responseHeaders = ReadMetadata(response.Headers);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            Finish(new Status(ClientErrors.FromHttpStatus(response.StatusCode),
                $"Bad gRPC response: HTTP status {(int)response.StatusCode} {response.ReasonPhrase}."), Metadata.Empty);
            Abort();
            return false;
        }

        if (TryReadStatus(response.Headers) is { } trailersOnly)
        {
            // Trailers-Only: the status came in the headers and there is no body.
            Finish(trailersOnly, _responseHeaders);
            _responseHeaders = Metadata.Empty;
            return false;
        }

        string? contentType = response.Content.Headers.ContentType?.MediaType;
        if (!GrpcHeaders.IsGrpcContentType(contentType))
        {
            Finish(new Status(StatusCode.Unknown, $"Bad gRPC response: content-type '{contentType}'."), Metadata.Empty);
            Abort();
            return false;
        }

        try
        {
            Stream body = await response.Content.ReadAsStreamAsync(_token).ConfigureAwait(false);
            string? encoding = response.Headers.TryGetValues(GrpcHeaders.Encoding, out IEnumerable<string>? values) ? values.FirstOrDefault() : null;
            _reader = new MessageReader(PipeReader.Create(body, PipeOptions), _channel.Options.MaxReceiveMessageBytes, encoding, "response");
        }
        catch (Exception e)
        {
            Fail(e, userTokenFired: false);
            return false;
        }

        return true;
    }

    private Task<bool> EnsureHeadersAsync() =>
        _headersTask ?? throw new InvalidOperationException("The call was not started.");

    private async Task<Metadata> GetResponseHeadersAsync()
    {
        await EnsureHeadersAsync().ConfigureAwait(false);
        if (_responseHeaders is not null)
        {
            return _responseHeaders;
        }

        ThrowIfEnded();
        return Metadata.Empty;
    }

    private void ReadTrailers()
    {
        HttpResponseHeaders trailers = _response!.TrailingHeaders;
        Metadata metadata = ReadMetadata(trailers);
        Status status = TryReadStatus(trailers)
            ?? new Status(StatusCode.Internal, "Bad gRPC response: the response ended without grpc-status.");
        Finish(status, metadata);
    }

    private bool EndOfStreamOrThrow()
    {
        Status status = _status ?? new Status(StatusCode.Internal, "The call ended without a status.");
        if (status.IsOk)
        {
            return false;
        }

        throw new RpcException(status, _trailers);
    }

    private void ThrowIfEnded()
    {
        if (_status is { } status)
        {
            throw status.IsOk
                ? new InvalidOperationException("The call has already ended.")
                : new RpcException(status, _trailers);
        }
    }

    /// <summary>Ends the call with the status that matches a local failure.</summary>
    private void Fail(Exception exception, bool userTokenFired)
    {
        Status status;
        if (exception is RpcException rpc)
        {
            // Local protocol checks (size limit, malformed response): the server must hear we gave up.
            status = rpc.Status;
        }
        else if (_userCancelled || userTokenFired)
        {
            status = new Status(StatusCode.Cancelled, "The call was cancelled by the client.");
        }
        else if (DeadlineFired())
        {
            status = new Status(StatusCode.DeadlineExceeded, "Deadline exceeded.");
        }
        else if (_disposed)
        {
            status = new Status(StatusCode.Cancelled, "The call was disposed before it ended.");
        }
        else
        {
            status = ClientErrors.FromException(exception);
        }

        Finish(status, Metadata.Empty);
        Abort();
    }

    private void Finish(Status status, Metadata trailers, bool force = false)
    {
        lock (_gate)
        {
            if (_status is not null && !force)
            {
                return;
            }

            _status = status;
            _trailers = trailers;
        }

        if (status.IsOk)
        {
            _requestContent?.Complete();
        }
        else
        {
            _requestContent?.Abort(new RpcException(status, trailers));
        }
    }

    /// <summary>Resets the HTTP/2 stream (RST_STREAM CANCEL) if it is still open.</summary>
    private void Abort()
    {
        try
        {
            _cts?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        _response?.Dispose();
    }

    private void CancelByUser()
    {
        _userCancelled = true;
        try
        {
            _cts?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// The deadline timer has fired (or the clock says it is past). The timer counts in whole
    /// milliseconds of a monotonic clock, so it may fire a hair before the wall clock agrees: a
    /// cancelled token that neither the caller nor Dispose cancelled is the deadline.
    /// </summary>
    private bool DeadlineFired() =>
        _deadline is { } d
        && ((_cts is { IsCancellationRequested: true } && !_userCancelled && !_disposed) || _channel.TimeProvider.GetUtcNow() >= d);

    private CancellationTokenRegistration Link(CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled && _cts is not null
            ? cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _cts)
            : default;

    private static Status? TryReadStatus(HttpHeaders headers)
    {
        if (!headers.TryGetValues(GrpcHeaders.Status, out IEnumerable<string>? values))
        {
            return null;
        }

        string? text = values.FirstOrDefault();
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int code))
        {
            return new Status(StatusCode.Unknown, $"Bad gRPC response: grpc-status '{text}'.");
        }

        string detail = headers.TryGetValues(GrpcHeaders.Message, out IEnumerable<string>? messages)
            ? StatusMessageEncoding.Decode(string.Join(",", messages))
            : "";
        StatusCode statusCode = Enum.IsDefined(typeof(StatusCode), code) ? (StatusCode)code : StatusCode.Unknown;
        return new Status(statusCode, detail);
    }

    private static Metadata ReadMetadata(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (KeyValuePair<string, IEnumerable<string>> header in headers)
        {
            if (Metadata.IsReserved(header.Key))
            {
                continue;
            }

            foreach (string value in header.Value)
            {
                metadata.AddFromWire(header.Key, value);
            }
        }

        return metadata;
    }
}
