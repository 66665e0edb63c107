using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;

namespace Fabric.Rpc.Protocol;

/// <summary>
/// Reads Length-Prefixed-Messages from a pipe (the server's request body, the client's response body)
/// and parses each straight from the pipe's buffers (no copy, no per-message array).
///
/// Contract: returns the next message, or null at a clean end of stream (END_STREAM on a message
/// boundary). Everything else ends the call with an RpcException carrying the status the spec asks
/// for: a message over the size limit is RESOURCE_EXHAUSTED (rejected from its header, before its
/// bytes are buffered); a compressed message is UNIMPLEMENTED (we do not implement any compression and
/// advertise "identity" only); a bad flag, a stream cut inside a message or bytes that do not parse
/// are INTERNAL. Not thread-safe: one reader at a time, as gRPC allows.
/// </summary>
internal sealed class MessageReader
{
    private readonly PipeReader _reader;
    private readonly int _maxMessageBytes;
    private readonly string? _encoding;
    private readonly string _direction;
    private bool _endOfStream;

    /// <param name="direction">"request" or "response": names the message in error details.</param>
    /// <param name="encoding">The peer's grpc-encoding header, if any.</param>
    public MessageReader(PipeReader reader, int maxMessageBytes, string? encoding, string direction)
    {
        _reader = reader;
        _maxMessageBytes = maxMessageBytes;
        _encoding = encoding;
        _direction = direction;
    }

    public PipeReader Pipe => _reader;

    public async ValueTask<T?> ReadAsync<T>(MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        if (_endOfStream)
        {
            return null;
        }

        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                _reader.AdvanceTo(result.Buffer.Start);
                throw new OperationCanceledException(cancellationToken);
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            T? message;
            SequencePosition consumed;
            bool complete;
            try
            {
                complete = TryParse(buffer, result.IsCompleted, parser, out message, out consumed);
            }
            catch
            {
                _reader.AdvanceTo(buffer.Start);
                throw;
            }

            if (complete)
            {
                _reader.AdvanceTo(consumed);
                if (message is null)
                {
                    _endOfStream = true;
                }

                return message;
            }

            // Need more bytes: consumed nothing, examined everything.
            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// True when the buffer held a whole message (or a clean end of stream: message null). Throws
    /// RpcException for protocol violations.
    /// </summary>
    private bool TryParse<T>(ReadOnlySequence<byte> buffer, bool isCompleted, MessageParser<T> parser, out T? message, out SequencePosition consumed)
        where T : class, IMessage<T>
    {
        message = null;
        consumed = buffer.Start;
        if (!GrpcFrame.TryReadHeader(buffer, out byte flag, out uint length))
        {
            if (!isCompleted)
            {
                return false;
            }

            if (buffer.Length == 0)
            {
                return true;
            }

            throw new RpcException(StatusCode.Internal,
                $"Incomplete {_direction} message: the stream ended inside the 5-byte message header ({buffer.Length} bytes).");
        }

        if (flag == 1)
        {
            if (_encoding is null or "identity")
            {
                throw new RpcException(StatusCode.Internal,
                    $"A {_direction} message has the compressed flag set but the call has no grpc-encoding.");
            }

            throw new RpcException(StatusCode.Unimplemented,
                $"Compressed {_direction} messages (grpc-encoding '{_encoding}') are not supported; send identity (uncompressed) messages.");
        }

        if (flag != 0)
        {
            throw new RpcException(StatusCode.Internal, $"Malformed {_direction} message: compressed flag is {flag}, must be 0 or 1.");
        }

        if (length > (uint)_maxMessageBytes)
        {
            throw new RpcException(StatusCode.ResourceExhausted,
                $"Received {_direction} message larger than max ({length} vs. {_maxMessageBytes} bytes).");
        }

        long total = GrpcFrame.HeaderLength + (long)length;
        if (buffer.Length < total)
        {
            if (isCompleted)
            {
                throw new RpcException(StatusCode.Internal,
                    $"Incomplete {_direction} message: the stream ended after {buffer.Length - GrpcFrame.HeaderLength} of {length} bytes.");
            }

            return false;
        }

        ReadOnlySequence<byte> payload = buffer.Slice(GrpcFrame.HeaderLength, length);
        try
        {
            message = parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RpcException(StatusCode.Internal,
                $"Failed to parse {_direction} message as {typeof(T).Name}: {e.Message}", innerException: e);
        }

        consumed = payload.End;
        return true;
    }
}
