using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Client.Messaging;

/// <summary>
/// One TCP connection carrying storage frames (<see cref="FrameCodec"/>) both ways.
/// </summary>
/// <remarks>
/// Why a framed binary protocol and not gRPC for the data path: measured here, a gRPC unary call over
/// Fabric.Rpc on loopback costs about 81 µs mean while a loopback TCP round trip is 20-30 µs; a 4 KiB
/// replicated write at QD1 crosses the network twice in series (client → primary → replicas) plus a
/// ~110 µs fsync, and the goal is a p50 under ~360 µs. Frames also let block data follow the protobuf
/// header raw, so 4 MiB payloads are never copied into protobuf messages. The message contracts stay
/// in proto/storage.proto.
///
/// Sending: a frame's prefix and header (and small data) are appended to a pending buffer under a lock;
/// large data given as a <see cref="DataBuffer"/> is queued by reference, not copied. The thread that
/// finds no flush running sends everything queued with one gathered, non-blocking send (so concurrent
/// senders batch into one syscall); when the socket buffer is full the rest goes out asynchronously, so
/// a sender never blocks on a slow receiver (the OSD's event loop sends replication ops of 4 MiB). Frames
/// queued before the connection is established go out once it is. A thread may <see cref="Cork"/> its sends for a
/// moment (the OSD's loop does, for each receive batch and each posted action): they are queued and each connection
/// is flushed once when the scope ends.
///
/// Receiving: a loop parses frames, either as an async loop on the thread pool (the default) or on a
/// thread of its own that blocks in poll(2) (<c>dedicatedReceiver</c>, what the OSD uses): measured
/// on this 2-vCPU paravirtualized machine, every wake-up is costly, and the async path pays two per
/// message (the sockets engine's epoll thread, then a pool worker) where a receiver thread pays one.
/// The parsing is the same code either way: on a receiver thread every read completes synchronously.
/// In both modes small ones are copied out of the receive buffer into
/// a pooled <see cref="DataBuffer"/>, a frame of at least <see cref="LargeFrameBytes"/> is received
/// straight into its own buffer and handed on as its data without another copy, or, when the owner's
/// <see cref="PayloadSink"/> names a destination for it once its header is in (the client: the buffer of the read
/// the reply answers), straight into that destination. A malformed frame closes the connection (never the process).
/// </remarks>
public sealed class FramedConnection
{
    /// <summary>Frames at least this large are received into their own buffer.</summary>
    public const int LargeFrameBytes = 64 << 10;

    private const int InitialReceiveBytes = 256 << 10;
    private static long _nextId;

    private readonly object _lock = new();
    private readonly Action<FramedConnection, StorageMessageType, IMessage, DataBuffer> _onMessage;
    private readonly Action<FramedConnection> _onClosed;
    private Socket? _socket;
    private ArrayBufferWriter<byte> _pending = new(64 << 10);
    private ArrayBufferWriter<byte> _sending = new(64 << 10);
    /// <summary>Data buffers queued by reference, each after the pending bytes up to its mark.</summary>
    private List<(int Mark, DataBuffer Data)> _pendingData = new();
    private List<(int Mark, DataBuffer Data)> _sendingData = new();
    private readonly List<ArraySegment<byte>> _segments = new();
    private readonly bool _dedicatedReceiver;
    private readonly FramePoller? _poller;
    // Receive state of a polled connection (touched only on the poller's thread).
    private byte[]? _rxBuffer;
    private int _rxFilled;
    private DataBuffer? _rxLarge;
    private int _rxLargeGot;
    // A large frame whose data goes straight to where its owner wants it (zero-copy receive, see PayloadSink).
    private readonly PayloadSink? _sink;
    private IPayloadTarget? _rxTarget;
    private int _rxTargetGot;
    private int _fd = -1;
    // The cork list of the last thread that deferred this connection's flush (a hint against adding it twice).
    private List<FramedConnection>? _corkedIn;
    private bool _flushing;
    private bool _connected;
    private int _closed;

    private FramedConnection(Socket? socket, Action<FramedConnection, StorageMessageType, IMessage, DataBuffer> onMessage,
        Action<FramedConnection> onClosed, bool dedicatedReceiver, FramePoller? poller, PayloadSink? sink = null)
    {
        Id = Interlocked.Increment(ref _nextId);
        _sink = sink;
        _socket = socket;
        _onMessage = onMessage;
        _onClosed = onClosed;
        _dedicatedReceiver = dedicatedReceiver;
        _poller = poller;
    }

    /// <summary>Unique per process: the connection id the OSD core answers clients by.</summary>
    public long Id { get; }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Who is on the other side (set by the owner, e.g. after Hello).</summary>
    public object? Tag { get; set; }

    /// <summary>
    /// Wraps an accepted socket and starts receiving. With <paramref name="dedicatedReceiver"/>,
    /// <paramref name="onMessage"/> runs on the connection's own thread; with a <paramref name="poller"/>, on the
    /// poller's owner thread, inside its <see cref="FramePoller.Poll"/>. Either way it must not block.
    /// </summary>
    public static FramedConnection Accept(Socket socket, Action<FramedConnection, StorageMessageType, IMessage, DataBuffer> onMessage,
        Action<FramedConnection> onClosed, bool dedicatedReceiver = false, FramePoller? poller = null)
    {
        socket.NoDelay = true;
        socket.Blocking = false;
        var connection = new FramedConnection(socket, onMessage, onClosed, dedicatedReceiver, poller) { _connected = true };
        connection.StartReceiving();
        return connection;
    }

    /// <summary>Starts connecting; frames sent meanwhile are queued (see <see cref="Accept"/> for the receiver).
    /// With a <paramref name="sink"/>, the data of a large frame goes where the sink says (see <see cref="PayloadSink"/>).</summary>
    public static FramedConnection Connect(EndPoint endpoint, Action<FramedConnection, StorageMessageType, IMessage, DataBuffer> onMessage,
        Action<FramedConnection> onClosed, bool dedicatedReceiver = false, FramePoller? poller = null, PayloadSink? sink = null)
    {
        var connection = new FramedConnection(null, onMessage, onClosed, dedicatedReceiver, poller, sink);
        _ = connection.ConnectAsync(endpoint);
        return connection;
    }

    public static EndPoint ParseEndpoint(string address)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), out int port))
        {
            throw new FormatException($"storage address '{address}' is not host:port");
        }
        string host = address[..colon].Trim('[', ']');
        return IPAddress.TryParse(host, out IPAddress? ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port);
    }

    // Corking (Cork): the connections whose flush this thread deferred, and how deep its cork scopes nest.
    [ThreadStatic] private static List<FramedConnection>? t_corked;
    [ThreadStatic] private static int t_corkDepth;

    /// <summary>
    /// Until the returned scope ends, sends on this thread only queue their frames, and each connection sent on is
    /// flushed once at the end: the replies to every request of one receive batch leave in one gathered send per
    /// connection instead of one send each. A scope must end before the
    /// thread waits for anything (its frames are not on the wire until then); other threads' sends are not held up
    /// (a send that finds no flush running on the connection flushes everything queued, this thread's frames too).
    /// </summary>
    public static CorkScope Cork()
    {
        t_corkDepth++;
        return new CorkScope(true);
    }

    /// <summary>The end of a <see cref="Cork"/> scope: flushes the connections it deferred (outermost scope only). A default
    /// instance (not from <see cref="Cork"/>) does nothing.</summary>
    public readonly struct CorkScope(bool active) : IDisposable
    {
        public void Dispose()
        {
            if (active)
            {
                Uncork();
            }
        }
    }

    private static void Uncork()
    {
        if (--t_corkDepth > 0)
        {
            return;
        }
        FlushCorked();
    }

    /// <summary>Flushes now the connections whose flush this thread deferred, its cork scope going on: for frames that
    /// must not wait for the scope's end (the OSD's replicated ops, sent before it applies its own copy).</summary>
    public static void FlushCorked()
    {
        List<FramedConnection>? corked = t_corked;
        if (corked is null || corked.Count == 0)
        {
            return;
        }
        // Taken off the thread while flushing: a flush that fails closes its connection, whose owner may send (and
        // cork) from inside that callback.
        t_corked = null;
        for (int i = 0; i < corked.Count; i++)
        {
            corked[i].FlushDeferred();
        }
        corked.Clear();
        t_corked ??= corked;
    }

    /// <summary>Called with <see cref="_lock"/> held and no flush running: true when this thread corks, and the flush
    /// is deferred to the end of its scope.</summary>
    private bool DeferFlush()
    {
        if (t_corkDepth == 0)
        {
            return false;
        }
        List<FramedConnection> corked = t_corked ??= new List<FramedConnection>();
        if (!ReferenceEquals(_corkedIn, corked))
        {
            _corkedIn = corked;
            corked.Add(this);
        }
        return true;
    }

    private void FlushDeferred()
    {
        lock (_lock)
        {
            _corkedIn = null;
            if (_flushing || !_connected || IsClosed)
            {
                return; // A flush running (or the connect) sends what is queued.
            }
            _flushing = true;
        }
        Flush();
    }

    /// <summary>Queues a frame, copying its data; false when the connection is closed.</summary>
    public bool Send(StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (IsClosed)
            {
                return false;
            }
            FrameCodec.Write(_pending, type, header, data);
            if (_flushing || !_connected || DeferFlush())
            {
                return true;
            }
            _flushing = true;
        }
        Flush();
        return true;
    }

    /// <summary>
    /// Queues a frame whose data is sent straight from <paramref name="data"/> (the connection holds a
    /// reference until the bytes are on the wire); false when the connection is closed.
    /// </summary>
    public bool Send(StorageMessageType type, IMessage header, DataBuffer data)
    {
        if (data.Length < 16 << 10)
        {
            return Send(type, header, data.Span);
        }
        lock (_lock)
        {
            if (IsClosed)
            {
                return false;
            }
            FrameCodec.WritePrefix(_pending, type, header, data.Length);
            _pendingData.Add((_pending.WrittenCount, data.AddRef()));
            if (_flushing || !_connected || DeferFlush())
            {
                return true;
            }
            _flushing = true;
        }
        Flush();
        return true;
    }

    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        _poller?.Remove(this, Volatile.Read(ref _fd));
        try
        {
            _socket?.Shutdown(SocketShutdown.Both);
        }
        catch (Exception)
        {
            // Already gone.
        }
        _socket?.Dispose();
        lock (_lock)
        {
            if (!_flushing)
            {
                ReleaseData(_pendingData);
                ReleaseData(_sendingData);
            }
        }
        _onClosed(this);
    }

    /// <summary>Sends what is queued; runs with <see cref="_flushing"/> set, on the thread that set it.</summary>
    private void Flush()
    {
        while (true)
        {
            lock (_lock)
            {
                if ((_pending.WrittenCount == 0 && _pendingData.Count == 0) || IsClosed)
                {
                    _flushing = false;
                    if (IsClosed)
                    {
                        ReleaseData(_pendingData);
                    }
                    return;
                }
                (_pending, _sending) = (_sending, _pending);
                (_pendingData, _sendingData) = (_sendingData, _pendingData);
            }
            BuildSegments();
            int index = 0;
            try
            {
                // Non-blocking: whatever the socket takes now; the rest goes out asynchronously.
                while (index < _segments.Count)
                {
                    int sent = _segments.Count == index + 1
                        ? _socket!.Send(_segments[index].AsSpan(), SocketFlags.None, out SocketError error)
                        : _socket!.Send(index == 0 ? _segments : Remaining(index), SocketFlags.None, out error);
                    if (error is not (SocketError.Success or SocketError.WouldBlock))
                    {
                        throw new SocketException((int)error);
                    }
                    index = Advance(index, sent);
                    if (error == SocketError.WouldBlock || sent == 0)
                    {
                        _ = ContinueAsync(index);
                        return;
                    }
                }
            }
            catch (Exception)
            {
                FailFlush();
                return;
            }
            FinishBatch();
        }
    }

    /// <summary>The rest of a batch the socket did not take at once, then the flush loop again.</summary>
    private async Task ContinueAsync(int index)
    {
        try
        {
            while (index < _segments.Count)
            {
                int sent = await _socket!.SendAsync(Remaining(index), SocketFlags.None).ConfigureAwait(false);
                if (sent == 0)
                {
                    throw new SocketException((int)SocketError.ConnectionReset);
                }
                index = Advance(index, sent);
            }
        }
        catch (Exception)
        {
            FailFlush();
            return;
        }
        FinishBatch();
        Flush();
    }

    private void BuildSegments()
    {
        _segments.Clear();
        if (!MemoryMarshal.TryGetArray(_sending.WrittenMemory, out ArraySegment<byte> bytes))
        {
            throw new InvalidOperationException("the send buffer has no array");
        }
        int at = 0;
        foreach ((int mark, DataBuffer data) in _sendingData)
        {
            if (mark > at)
            {
                _segments.Add(bytes.Slice(at, mark - at));
            }
            _segments.Add(data.Segment);
            at = mark;
        }
        if (bytes.Count > at)
        {
            _segments.Add(bytes.Slice(at));
        }
    }

    private List<ArraySegment<byte>> Remaining(int index) => _segments.GetRange(index, _segments.Count - index);

    /// <summary>Moves past <paramref name="sent"/> bytes; returns the index of the first segment not fully sent.</summary>
    private int Advance(int index, int sent)
    {
        while (sent > 0 && index < _segments.Count)
        {
            ArraySegment<byte> segment = _segments[index];
            if (sent < segment.Count)
            {
                _segments[index] = segment.Slice(sent);
                return index;
            }
            sent -= segment.Count;
            index++;
        }
        return index;
    }

    private void FinishBatch()
    {
        _sending.ResetWrittenCount();
        ReleaseData(_sendingData);
        if (_sending.Capacity > (16 << 20))
        {
            // Do not keep a huge buffer after a burst of large objects.
            _sending = new ArrayBufferWriter<byte>(64 << 10);
        }
    }

    private void FailFlush()
    {
        lock (_lock)
        {
            _flushing = false;
            ReleaseData(_sendingData);
            ReleaseData(_pendingData);
        }
        Close();
    }

    private static void ReleaseData(List<(int Mark, DataBuffer Data)> list)
    {
        foreach ((_, DataBuffer data) in list)
        {
            data.Release();
        }
        list.Clear();
    }

    private async Task ConnectAsync(EndPoint endpoint)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            socket.Blocking = false;
        }
        catch (Exception)
        {
            socket.Dispose();
            Close();
            return;
        }
        bool flush;
        lock (_lock)
        {
            _socket = socket;
            _connected = true;
            flush = !_flushing && (_pending.WrittenCount > 0 || _pendingData.Count > 0);
            if (flush)
            {
                _flushing = true;
            }
        }
        if (IsClosed)
        {
            socket.Dispose();
            return;
        }
        if (flush)
        {
            Flush();
        }
        StartReceiving();
    }

    private void StartReceiving()
    {
        if (_poller is not null)
        {
            _rxBuffer = new byte[InitialReceiveBytes];
            // The raw descriptor, for epoll only: the socket object keeps owning (and closing) it.
            int fd = (int)_socket!.SafeHandle.DangerousGetHandle();
            Volatile.Write(ref _fd, fd);
            if (!_poller.Add(this, fd))
            {
                Close();
            }
            return;
        }
        if (!_dedicatedReceiver)
        {
            _ = ReceiveLoopAsync();
            return;
        }
        // Every read of a dedicated receiver completes synchronously, so the "async" loop runs to its
        // end right here, on this thread.
        var thread = new Thread(() => ReceiveLoopAsync().GetAwaiter().GetResult())
        {
            IsBackground = true,
            Name = $"frames-rx.{Id}",
        };
        thread.Start();
    }

    /// <summary>
    /// One read: awaited on the sockets engine, or (dedicated receiver) a non-blocking receive that
    /// waits in poll(2) while there is nothing to read. Close() shuts the socket down first, which
    /// wakes the poll; the timeout is only a backstop.
    /// </summary>
    private ValueTask<int> ReadAsync(Memory<byte> into)
    {
        if (!_dedicatedReceiver)
        {
            return _socket!.ReceiveAsync(into, SocketFlags.None);
        }
        while (true)
        {
            int read = _socket!.Receive(into.Span, SocketFlags.None, out SocketError error);
            if (error == SocketError.Success)
            {
                return ValueTask.FromResult(read);
            }
            if (error != SocketError.WouldBlock)
            {
                throw new SocketException((int)error);
            }
            if (IsClosed)
            {
                return ValueTask.FromResult(0);
            }
            _socket.Poll(TimeSpan.FromSeconds(1), SelectMode.SelectRead);
        }
    }

    private async Task ReceiveLoopAsync()
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(InitialReceiveBytes);
        try
        {
            while (!IsClosed)
            {
                int read = await ReadAsync(buffer.AsMemory(_rxFilled)).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                _rxFilled += read;
                DeliverBuffered(buffer);
                if (_rxLarge is { } large)
                {
                    // Receive the rest straight into the frame's own buffer.
                    while (_rxLargeGot < large.Length)
                    {
                        int got = await ReadAsync(large.Memory[_rxLargeGot..]).ConfigureAwait(false);
                        if (got == 0)
                        {
                            throw new SocketException((int)SocketError.ConnectionReset);
                        }
                        _rxLargeGot += got;
                    }
                    _rxLarge = null;
                    DeliverLarge(large);
                }
                else if (_rxTarget is { } target)
                {
                    // The rest of the data straight into its destination.
                    Memory<byte> destination = target.Destination;
                    while (_rxTargetGot < destination.Length)
                    {
                        int got = await ReadAsync(destination[_rxTargetGot..]).ConfigureAwait(false);
                        if (got == 0)
                        {
                            throw new SocketException((int)SocketError.ConnectionReset);
                        }
                        _rxTargetGot += got;
                    }
                    _rxTarget = null;
                    target.Complete(received: true);
                }
            }
        }
        catch (Exception)
        {
            // Connection reset or a malformed frame: close below.
        }
        finally
        {
            _rxLarge?.Release();
            _rxLarge = null;
            AbandonTarget();
            ArrayPool<byte>.Shared.Return(buffer);
            Close();
        }
    }

    /// <summary>Delivers a whole large frame received into its own buffer (its data handed on without a copy), and
    /// releases the buffer.</summary>
    private void DeliverLarge(DataBuffer frame)
    {
        try
        {
            int frameLength = frame.Length;
            if (!FrameCodec.TrySplit(frame.Span, out StorageMessageType type, out ReadOnlySpan<byte> header, out ReadOnlySpan<byte> data))
            {
                throw new InvalidDataException("malformed storage frame header");
            }
            IMessage message = StorageMessages.Parse(type, header) ?? throw new InvalidDataException($"unknown storage message type {(int)type}");
            frame.TrimStart(frameLength - data.Length);
            _onMessage(this, type, message, frame);
        }
        finally
        {
            frame.Release();
        }
    }

    /// <summary>A polled connection's turn is bounded: the rest waits for the next poll (level-triggered).</summary>
    private const int PollTurnFrames = 64;
    private const int PollTurnBytes = 8 << 20;

    /// <summary>
    /// A polled connection's receive step, on the poller's thread: reads what the socket has now (never
    /// blocking), delivers every complete frame, keeps a partial one for the next step (a large frame fills its
    /// own buffer across steps), and closes the connection on end of stream, an error or a malformed frame.
    /// </summary>
    internal void ReceiveAvailable()
    {
        byte[]? buffer = _rxBuffer;
        if (buffer is null || IsClosed)
        {
            return;
        }
        int frames = 0;
        int bytes = 0;
        try
        {
            while (frames < PollTurnFrames && bytes < PollTurnBytes && !IsClosed)
            {
                if (_rxLarge is { } large)
                {
                    int got = _socket!.Receive(large.Span[_rxLargeGot..], SocketFlags.None, out SocketError largeError);
                    if (largeError == SocketError.WouldBlock)
                    {
                        return;
                    }
                    if (largeError != SocketError.Success || got == 0)
                    {
                        break;
                    }
                    _rxLargeGot += got;
                    bytes += got;
                    if (_rxLargeGot == large.Length)
                    {
                        _rxLarge = null;
                        DeliverLarge(large);
                        frames++;
                    }
                    continue;
                }
                if (_rxTarget is { } target)
                {
                    int got = _socket!.Receive(target.Destination.Span[_rxTargetGot..], SocketFlags.None, out SocketError targetError);
                    if (targetError == SocketError.WouldBlock)
                    {
                        return;
                    }
                    if (targetError != SocketError.Success || got == 0)
                    {
                        break;
                    }
                    _rxTargetGot += got;
                    bytes += got;
                    if (_rxTargetGot == target.Destination.Length)
                    {
                        _rxTarget = null;
                        target.Complete(received: true);
                        frames++;
                    }
                    continue;
                }
                int read = _socket!.Receive(buffer.AsSpan(_rxFilled), SocketFlags.None, out SocketError error);
                if (error == SocketError.WouldBlock)
                {
                    return;
                }
                if (error != SocketError.Success || read == 0)
                {
                    break;
                }
                _rxFilled += read;
                bytes += read;
                frames += DeliverBuffered(buffer);
            }
            if (frames >= PollTurnFrames || bytes >= PollTurnBytes)
            {
                return; // Turn over; the socket is still readable, so the next poll comes back here.
            }
        }
        catch (Exception)
        {
            // A malformed frame (or a handler that threw): close below, as the other receive modes do.
        }
        _rxLarge?.Release();
        _rxLarge = null;
        AbandonTarget();
        Close();
    }

    /// <summary>The connection ends with a frame's data half received: its owner learns it was not (before the
    /// close, so what it takes back is there when the close resends).</summary>
    private void AbandonTarget()
    {
        IPayloadTarget? target = _rxTarget;
        _rxTarget = null;
        target?.Complete(received: false);
    }

    /// <summary>
    /// A large frame's start (<paramref name="start"/>, or all of it) with its header complete: asks the sink for a
    /// destination of its data and, given one, copies the data bytes already here into it; the receive loops read
    /// the rest straight into it. False: the frame goes the usual way (a buffer of its own).
    /// </summary>
    private bool TryStartTarget(ReadOnlySpan<byte> start, int frameLength)
    {
        if (_sink is null || start.Length < FrameCodec.PrefixSize)
        {
            return false;
        }
        if (!FrameCodec.TryReadPrefix(start, frameLength, out StorageMessageType type, out int dataStart))
        {
            throw new InvalidDataException("malformed storage frame header");
        }
        if (start.Length < dataStart)
        {
            return false;
        }
        IMessage message = StorageMessages.Parse(type, start[FrameCodec.PrefixSize..dataStart]) ?? throw new InvalidDataException($"unknown storage message type {(int)type}");
        int dataLength = frameLength - dataStart;
        IPayloadTarget? target = _sink(this, type, message, dataLength);
        if (target is null)
        {
            return false;
        }
        if (target.Destination.Length != dataLength)
        {
            target.Complete(received: false);
            return false;
        }
        start[dataStart..].CopyTo(target.Destination.Span);
        _rxTarget = target;
        _rxTargetGot = start.Length - dataStart;
        return true;
    }

    /// <summary>Delivers the complete frames in the first <see cref="_rxFilled"/> bytes of <paramref name="buffer"/>,
    /// moves a large frame's start into its own buffer, keeps a partial small frame at the front.</summary>
    private int DeliverBuffered(byte[] buffer)
    {
        int consumed = 0;
        int delivered = 0;
        while (true)
        {
            int frameLength = FrameCodec.PeekFrameLength(buffer.AsSpan(consumed, _rxFilled - consumed));
            if (frameLength < 0)
            {
                throw new InvalidDataException("malformed storage frame length");
            }
            if (frameLength == 0)
            {
                break;
            }
            if (frameLength > _rxFilled - consumed)
            {
                if (frameLength >= LargeFrameBytes && TryStartTarget(buffer.AsSpan(consumed, _rxFilled - consumed), frameLength))
                {
                    consumed = _rxFilled;
                }
                else if (frameLength >= LargeFrameBytes)
                {
                    DataBuffer large = DataBuffer.Rent(frameLength);
                    buffer.AsSpan(consumed, _rxFilled - consumed).CopyTo(large.Span);
                    _rxLarge = large;
                    _rxLargeGot = _rxFilled - consumed;
                    consumed = _rxFilled;
                }
                break;
            }
            if (frameLength >= LargeFrameBytes && TryStartTarget(buffer.AsSpan(consumed, frameLength), frameLength))
            {
                // The whole frame was here already: its data is in the target.
                IPayloadTarget target = _rxTarget!;
                _rxTarget = null;
                target.Complete(received: true);
            }
            else
            {
                Deliver(buffer.AsSpan(consumed, frameLength));
            }
            consumed += frameLength;
            delivered++;
        }
        if (consumed > 0)
        {
            buffer.AsSpan(consumed, _rxFilled - consumed).CopyTo(buffer);
            _rxFilled -= consumed;
        }
        if (_rxFilled == buffer.Length)
        {
            throw new InvalidDataException("receive buffer full without a complete frame");
        }
        return delivered;
    }

    private void Deliver(ReadOnlySpan<byte> frame)
    {
        if (!FrameCodec.TrySplit(frame, out StorageMessageType type, out ReadOnlySpan<byte> header, out ReadOnlySpan<byte> data))
        {
            throw new InvalidDataException("malformed storage frame header");
        }
        IMessage? message = StorageMessages.Parse(type, header);
        if (message is null)
        {
            throw new InvalidDataException($"unknown storage message type {(int)type}");
        }
        DataBuffer buffer = DataBuffer.CopyOf(data);
        try
        {
            _onMessage(this, type, message, buffer);
        }
        finally
        {
            buffer.Release();
        }
    }
}

/// <summary>
/// Where a large frame's data should go instead of a buffer of the connection's own: called on the receiving thread
/// when the frame's header has arrived (its data not yet), it returns a destination of exactly
/// <paramref name="dataLength"/> bytes, or null to have the frame delivered as usual. The target's owner must not
/// let anyone else use the destination until <see cref="IPayloadTarget.Complete"/>.
/// </summary>
public delegate IPayloadTarget? PayloadSink(FramedConnection connection, StorageMessageType type, IMessage header, int dataLength);

/// <summary>A destination a frame's data is received into (see <see cref="PayloadSink"/>).</summary>
public interface IPayloadTarget
{
    Memory<byte> Destination { get; }

    /// <summary>Called once on the receiving thread: true when all of the data is in the destination, false when the
    /// connection ended first (the destination holds part of it).</summary>
    void Complete(bool received);
}
