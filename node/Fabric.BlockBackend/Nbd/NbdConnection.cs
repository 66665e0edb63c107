using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Fabric.Core.Io;
using Microsoft.Extensions.Logging;
using static Fabric.BlockBackend.Nbd.NbdProtocol;

namespace Fabric.BlockBackend.Nbd;

/// <summary>
/// One NBD client: fixed newstyle negotiation, then the transmission phase with many requests in flight
/// and replies sent as each request completes (out of order, matched by cookie).
/// </summary>
/// <remarks>
/// <code>
///   client                                   server
///     |  &lt;-- NBDMAGIC IHAVEOPT flags(FIXED_NEWSTYLE|NO_ZEROES)
///     |  --&gt; client flags
///     |  --&gt; IHAVEOPT OPT_LIST | OPT_INFO | OPT_STRUCTURED_REPLY ...
///     |  &lt;-- REP_SERVER* / REP_INFO* / REP_ERR_UNSUP, then REP_ACK
///     |  --&gt; IHAVEOPT OPT_GO(name) (or OPT_EXPORT_NAME)
///     |  &lt;-- REP_INFO(EXPORT size flags) REP_INFO(BLOCK_SIZE) REP_ACK
///     |  --&gt; REQUEST(cookie 1)  --&gt; REQUEST(cookie 2) ...   (up to MaxInFlightPerConnection)
///     |  &lt;-- REPLY(cookie 2)   &lt;-- REPLY(cookie 1) [+ data]   (as the volume completes them)
///     |  --&gt; REQUEST(DISC)     (server drains in-flight requests, closes)
/// </code>
/// Threads: the connection runs on its own thread with blocking socket calls (negotiation, reading requests,
/// and replies of requests the volume completes synchronously); replies of requests that complete later are
/// sent from the completing thread, serialised by a lock.
/// Failure policy: a request that is wrong but leaves the stream in sync (out of range, unknown command,
/// oversized read) gets an error reply and the connection goes on; anything that desynchronises the stream
/// (bad magic, a write larger than the advertised maximum, bad client flags) closes this connection only,
/// with the reason logged.
/// </remarks>
internal sealed class NbdConnection
{
    private const int MaxOptions = 1024;
    private const int MaxOptionBytes = 64 << 10;

    private readonly long _id;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly BufferedStream _reader; // one recv often brings a request header and its payload
    private readonly NbdExportRegistry _registry;
    private readonly NbdServerOptions _options;
    private readonly ILogger _logger;
    private readonly object _sendLock = new();
    private readonly SemaphoreSlim _slots;
    private bool _noZeroes;

    public NbdConnection(long id, Socket socket, NbdExportRegistry registry, NbdServerOptions options, ILogger logger)
    {
        _id = id;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new BufferedStream(_stream, 256 << 10);
        _registry = registry;
        _options = options;
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxInFlightPerConnection, options.MaxInFlightPerConnection);
    }

    public void Run(CancellationToken cancellationToken)
    {
        string? exportName = null;
        IBlockVolume? volume = null;
        try
        {
            NbdLog.Connected(_logger, _id, _socket.RemoteEndPoint?.ToString() ?? "unix");
            (exportName, volume) = Negotiate(cancellationToken);
            if (volume is not null)
            {
                NbdLog.Serving(_logger, _id, exportName!, volume.SizeBytes);
                Transmit(volume, cancellationToken);
            }
            NbdLog.Disconnected(_logger, _id);
        }
        catch (NbdProtocolException e)
        {
            NbdLog.ConnectionFailed(_logger, _id, e.Message);
        }
        catch (EndOfStreamException)
        {
            NbdLog.ConnectionFailed(_logger, _id, "the client closed the connection in the middle of a message");
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            NbdLog.ConnectionFailed(_logger, _id, cancellationToken.IsCancellationRequested ? "server stopping" : $"socket error: {e.Message}");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            NbdLog.ConnectionFailed(_logger, _id, "server stopping");
        }
        finally
        {
            // Requests still running hold buffers and the volume: let them finish before giving it back.
            Drain();
            if (exportName is not null && volume is not null)
            {
                _registry.Release(exportName, volume);
            }
            _socket.Dispose();
        }
    }

    private void Drain()
    {
        for (int i = 0; i < _options.MaxInFlightPerConnection; i++)
        {
            _slots.Wait();
        }
    }

    /// <summary>Unblocks the connection's thread (server stopping).</summary>
    public void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    // ---- negotiation -------------------------------------------------------------------------------

    private (string? Name, IBlockVolume? Volume) Negotiate(CancellationToken ct)
    {
        var greeting = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdMagic);
        BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), OptionMagic);
        BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), FlagFixedNewstyle | FlagNoZeroes);
        _stream.Write(greeting);

        var word = new byte[16];
        _reader.ReadExactly(word.AsSpan(0, 4));
        uint clientFlags = BinaryPrimitives.ReadUInt32BigEndian(word);
        if ((clientFlags & ~(ClientFlagFixedNewstyle | ClientFlagNoZeroes)) != 0)
        {
            throw new NbdProtocolException($"unknown client flags 0x{clientFlags:x8} (not an NBD fixed-newstyle client?)");
        }
        if ((clientFlags & ClientFlagFixedNewstyle) == 0)
        {
            throw new NbdProtocolException("the client does not speak fixed newstyle negotiation");
        }
        _noZeroes = (clientFlags & ClientFlagNoZeroes) != 0;

        for (int count = 0; count < MaxOptions; count++)
        {
            _reader.ReadExactly(word);
            ulong magic = BinaryPrimitives.ReadUInt64BigEndian(word);
            uint option = BinaryPrimitives.ReadUInt32BigEndian(word.AsSpan(8));
            uint length = BinaryPrimitives.ReadUInt32BigEndian(word.AsSpan(12));
            if (magic != OptionMagic)
            {
                throw new NbdProtocolException($"bad option magic 0x{magic:x16} in the handshake");
            }
            if (length > MaxOptionBytes)
            {
                throw new NbdProtocolException($"option {option} carries {length} bytes (limit {MaxOptionBytes})");
            }
            var data = new byte[length];
            _reader.ReadExactly(data);

            switch (option)
            {
                case OptExportName:
                {
                    string name = Encoding.UTF8.GetString(data);
                    var opened = _registry.AcquireAsync(name, ct).GetAwaiter().GetResult();
                    if (opened.Volume is null)
                    {
                        // The old-style option has no error reply: the protocol says to close.
                        throw new NbdProtocolException($"NBD_OPT_EXPORT_NAME '{name}': {opened.Error}");
                    }
                    var reply = new byte[_noZeroes ? 10 : 134];
                    BinaryPrimitives.WriteUInt64BigEndian(reply, (ulong)opened.Volume.SizeBytes);
                    BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(8), TransmissionFlags(opened.Volume));
                    _stream.Write(reply);
                    return (name, opened.Volume);
                }
                case OptAbort:
                    try
                    {
                        SendOptionReply(option, RepAck, ReadOnlySpan<byte>.Empty);
                    }
                    catch (IOException)
                    {
                        // Clients may hang up right after NBD_OPT_ABORT without reading the ack; that is fine.
                    }
                    return (null, null);
                case OptList:
                    if (length != 0)
                    {
                        Refuse(option, RepErrInvalid, "NBD_OPT_LIST carries no data");
                        break;
                    }
                    foreach (var name in _registry.Provider.ListAsync(ct).AsTask().GetAwaiter().GetResult())
                    {
                        var bytes = Encoding.UTF8.GetBytes(name);
                        var payload = new byte[4 + bytes.Length];
                        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)bytes.Length);
                        bytes.CopyTo(payload, 4);
                        SendOptionReply(option, RepServer, payload);
                    }
                    SendOptionReply(option, RepAck, ReadOnlySpan<byte>.Empty);
                    break;
                case OptInfo:
                case OptGo:
                {
                    var served = InfoOrGo(option, data, ct);
                    if (served.Volume is not null)
                    {
                        return served;
                    }
                    break;
                }
                case OptStartTls:
                    Refuse(option, RepErrPolicy, "TLS is not offered (use a unix socket or loopback)");
                    break;
                case OptStructuredReply:
                    // Simple replies are enough: reads either succeed whole or fail with no payload.
                    SendOptionReply(option, RepErrUnsupported, ReadOnlySpan<byte>.Empty);
                    break;
                default:
                    SendOptionReply(option, RepErrUnsupported, ReadOnlySpan<byte>.Empty);
                    break;
            }
        }
        throw new NbdProtocolException($"more than {MaxOptions} options without choosing an export");
    }

    private (string? Name, IBlockVolume? Volume) InfoOrGo(uint option, byte[] data, CancellationToken ct)
    {
        // uint32 name length, name, uint16 count, count × uint16 info type.
        if (data.Length < 6)
        {
            Refuse(option, RepErrInvalid, "request too short");
            return (null, null);
        }
        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > data.Length - 6)
        {
            Refuse(option, RepErrInvalid, $"name length {nameLength} exceeds the option's {data.Length} bytes");
            return (null, null);
        }
        string name = Encoding.UTF8.GetString(data, 4, (int)nameLength);
        int at = 4 + (int)nameLength;
        int requests = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(at));
        if (data.Length != at + 2 + 2 * requests)
        {
            Refuse(option, RepErrInvalid, $"{requests} information requests do not match the option length");
            return (null, null);
        }
        bool wantsName = false;
        for (int i = 0; i < requests; i++)
        {
            wantsName |= BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(at + 2 + 2 * i)) == InfoName;
        }

        var opened = _registry.AcquireAsync(name, ct).GetAwaiter().GetResult();
        if (opened.Volume is null)
        {
            Refuse(option, RepErrUnknown, opened.Error ?? "unknown export");
            return (null, null);
        }
        bool keep = false;
        try
        {
            var volume = opened.Volume;
            var export = new byte[12];
            BinaryPrimitives.WriteUInt16BigEndian(export, InfoExport);
            BinaryPrimitives.WriteUInt64BigEndian(export.AsSpan(2), (ulong)volume.SizeBytes);
            BinaryPrimitives.WriteUInt16BigEndian(export.AsSpan(10), TransmissionFlags(volume));
            SendOptionReply(option, RepInfo, export);

            var blockSize = new byte[14];
            BinaryPrimitives.WriteUInt16BigEndian(blockSize, InfoBlockSize);
            BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(2), 1);
            BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(6), 4096);
            BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(10), (uint)_options.MaxPayloadBytes);
            SendOptionReply(option, RepInfo, blockSize);

            if (wantsName)
            {
                var nameBytes = Encoding.UTF8.GetBytes(name);
                var info = new byte[2 + nameBytes.Length];
                BinaryPrimitives.WriteUInt16BigEndian(info, InfoName);
                nameBytes.CopyTo(info, 2);
                SendOptionReply(option, RepInfo, info);
            }
            SendOptionReply(option, RepAck, ReadOnlySpan<byte>.Empty);
            keep = option == OptGo;
            return keep ? (name, volume) : (null, null);
        }
        finally
        {
            if (!keep)
            {
                _registry.Release(name, opened.Volume);
            }
        }
    }

    private ushort TransmissionFlags(IBlockVolume volume)
    {
        ushort flags = TxHasFlags | TxSendFlush | TxSendFua | TxSendTrim | TxSendWriteZeroes | TxCanMultiConn;
        if (volume.ReadOnly || _options.ReadOnly)
        {
            flags |= TxReadOnly;
        }
        return flags;
    }

    private void Refuse(uint option, uint error, string reason)
    {
        NbdLog.OptionRefused(_logger, _id, option, reason);
        SendOptionReply(option, error, Encoding.UTF8.GetBytes(reason));
    }

    private void SendOptionReply(uint option, uint type, ReadOnlySpan<byte> payload)
    {
        var reply = new byte[20 + payload.Length];
        BinaryPrimitives.WriteUInt64BigEndian(reply, OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(12), type);
        BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(16), (uint)payload.Length);
        payload.CopyTo(reply.AsSpan(20));
        _stream.Write(reply);
    }

    // ---- transmission ------------------------------------------------------------------------------

    private void Transmit(IBlockVolume volume, CancellationToken ct)
    {
        var header = new byte[RequestHeaderBytes];
        bool readOnly = volume.ReadOnly || _options.ReadOnly;
        while (true)
        {
            _slots.Wait(ct);
            bool dispatched = false;
            try
            {
                int got = ReadAtMost(header);
                if (got == 0)
                {
                    return; // closed between requests without NBD_CMD_DISC: not an error worth more than this
                }
                if (got < header.Length)
                {
                    throw new EndOfStreamException();
                }
                uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
                ushort flags = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4));
                ushort type = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6));
                ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8));
                ulong offset = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(16));
                uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(24));
                if (magic != RequestMagic)
                {
                    throw new NbdProtocolException($"bad request magic 0x{magic:x8}");
                }

                var request = new Request(type, flags, cookie, offset, length);
                byte[]? payload = null;
                if (type == CmdWrite)
                {
                    if (length > _options.MaxPayloadBytes)
                    {
                        throw new NbdProtocolException($"write of {length} bytes exceeds the {_options.MaxPayloadBytes}-byte maximum");
                    }
                    payload = ArrayPool<byte>.Shared.Rent((int)length);
                    try
                    {
                        _reader.ReadExactly(payload.AsSpan(0, (int)length));
                    }
                    catch
                    {
                        ArrayPool<byte>.Shared.Return(payload);
                        throw;
                    }
                }
                else if (type == CmdDisconnect)
                {
                    return;
                }

                string? rejection = Validate(request, volume.SizeBytes, readOnly, out uint errno);
                if (rejection is not null)
                {
                    NbdLog.RequestRejected(_logger, _id, type, offset, length, rejection);
                    if (payload is not null)
                    {
                        ArrayPool<byte>.Shared.Return(payload);
                    }
                    dispatched = true;
                    ReplyErrorAndRelease(cookie, errno);
                    continue;
                }
                dispatched = true;
                _ = ExecuteAsync(volume, request, payload, ct);
            }
            finally
            {
                if (!dispatched)
                {
                    _slots.Release();
                }
            }
        }
    }

    private readonly record struct Request(ushort Type, ushort Flags, ulong Cookie, ulong Offset, uint Length);

    private string? Validate(in Request r, long sizeBytes, bool readOnly, out uint errno)
    {
        errno = EINVAL;
        const ushort knownFlags = CmdFlagFua | CmdFlagNoHole | CmdFlagFastZero;
        if ((r.Flags & ~knownFlags) != 0)
        {
            return $"unknown command flags 0x{r.Flags:x4}";
        }
        switch (r.Type)
        {
            case CmdRead:
            case CmdWrite:
            case CmdTrim:
            case CmdWriteZeroes:
            case CmdCache:
                if (r.Length == 0)
                {
                    return "zero-length request";
                }
                if (r.Type == CmdRead && r.Length > _options.MaxPayloadBytes)
                {
                    errno = EOVERFLOW;
                    return $"read of {r.Length} bytes exceeds the {_options.MaxPayloadBytes}-byte maximum";
                }
                if (r.Offset > (ulong)sizeBytes || r.Length > (ulong)sizeBytes - r.Offset)
                {
                    errno = r.Type == CmdWrite || r.Type == CmdWriteZeroes ? ENOSPC : EINVAL;
                    return $"range past the end of the {sizeBytes}-byte export";
                }
                if (readOnly && r.Type is CmdWrite or CmdTrim or CmdWriteZeroes)
                {
                    errno = EPERM;
                    return "the export is read-only";
                }
                return null;
            case CmdFlush:
                return r.Offset != 0 || r.Length != 0 ? "flush with a range" : null;
            default:
                return $"unknown command {r.Type}";
        }
    }

    private void ReplyErrorAndRelease(ulong cookie, uint errno)
    {
        try
        {
            SendSimpleReply(cookie, errno, null, 0);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The reading side sees the broken socket and ends the connection.
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task ExecuteAsync(IBlockVolume volume, Request r, byte[]? payload, CancellationToken ct)
    {
        byte[]? readBuffer = null;
        try
        {
            long offset = (long)r.Offset;
            bool fua = (r.Flags & CmdFlagFua) != 0;
            BlockIoStatus status;
            switch (r.Type)
            {
                case CmdRead:
                    readBuffer = ArrayPool<byte>.Shared.Rent(SimpleReplyBytes + (int)r.Length);
                    status = await volume.ReadAsync(offset, readBuffer.AsMemory(SimpleReplyBytes, (int)r.Length), ct).ConfigureAwait(false);
                    break;
                case CmdWrite:
                    status = await volume.WriteAsync(offset, payload.AsMemory(0, (int)r.Length), fua, ct).ConfigureAwait(false);
                    break;
                case CmdFlush:
                    status = await volume.FlushAsync(ct).ConfigureAwait(false);
                    break;
                case CmdTrim:
                    status = await volume.DiscardAsync(offset, r.Length, ct).ConfigureAwait(false);
                    if (status == BlockIoStatus.Ok && fua)
                    {
                        status = await volume.FlushAsync(ct).ConfigureAwait(false);
                    }
                    break;
                case CmdWriteZeroes:
                    status = (r.Flags & CmdFlagNoHole) == 0
                        ? await volume.DiscardAsync(offset, r.Length, ct).ConfigureAwait(false)
                        : await volume.WriteZeroesAsync(offset, r.Length, ct).ConfigureAwait(false);
                    if (status == BlockIoStatus.Ok && fua)
                    {
                        status = await volume.FlushAsync(ct).ConfigureAwait(false);
                    }
                    break;
                default: // NBD_CMD_CACHE: a hint; nothing to prefetch into.
                    status = BlockIoStatus.Ok;
                    break;
            }
            uint errno = ToErrno(status, r.Type);
            if (errno != 0)
            {
                NbdLog.RequestRejected(_logger, _id, r.Type, r.Offset, r.Length, $"volume answered {status}");
            }
            SendSimpleReply(r.Cookie, errno, errno == 0 ? readBuffer : null, errno == 0 && r.Type == CmdRead ? (int)r.Length : 0);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The reading side sees the broken socket and ends the connection.
        }
        catch (Exception e)
        {
            // A bug in a volume implementation must not take the connection's other requests with it.
            NbdLog.RequestRejected(_logger, _id, r.Type, r.Offset, r.Length, $"volume threw {e.GetType().Name}: {e.Message}");
            try
            {
                SendSimpleReply(r.Cookie, EIO, null, 0);
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
            }
        }
        finally
        {
            if (payload is not null)
            {
                ArrayPool<byte>.Shared.Return(payload);
            }
            if (readBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(readBuffer);
            }
            _slots.Release();
        }
    }

    private static uint ToErrno(BlockIoStatus status, ushort type) => status switch
    {
        BlockIoStatus.Ok => 0,
        BlockIoStatus.OutOfRange => type is CmdWrite or CmdWriteZeroes ? ENOSPC : EINVAL,
        BlockIoStatus.ReadOnly => EPERM,
        BlockIoStatus.Invalid => EINVAL,
        BlockIoStatus.NotSupported => ENOTSUP,
        BlockIoStatus.Cancelled or BlockIoStatus.Fenced => ESHUTDOWN,
        _ => EIO,
    };

    /// <summary>Sends a simple reply; <paramref name="withData"/> has the header's 16 bytes free in front.</summary>
    private void SendSimpleReply(ulong cookie, uint errno, byte[]? withData, int dataLength)
    {
        byte[] buffer = withData ?? ArrayPool<byte>.Shared.Rent(SimpleReplyBytes);
        try
        {
            BinaryPrimitives.WriteUInt32BigEndian(buffer, SimpleReplyMagic);
            BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(4), errno);
            BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(8), cookie);
            lock (_sendLock)
            {
                _stream.Write(buffer, 0, SimpleReplyBytes + dataLength);
            }
        }
        finally
        {
            if (withData is null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private int ReadAtMost(Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = _reader.Read(buffer[done..]);
            if (n == 0)
            {
                break;
            }
            done += n;
        }
        return done;
    }
}
