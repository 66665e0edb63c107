using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;

namespace Fabric.Hypervisor.Qmp;

/// <summary>
/// An async client of the QEMU Machine Protocol over a unix socket.
///
/// Contract: one QmpClient per connection. Commands may be issued concurrently; each carries an "id" and
/// its answer is matched by it, so a command that timed out can never be mistaken for a later one's
/// answer. Events go to every live <see cref="QmpEventSubscription"/>. When the connection ends, for any
/// reason, every waiting command fails with <see cref="QmpConnectionLostException"/>, every subscription
/// completes, and <see cref="Completion"/> completes.
///
///   client                                QEMU
///     |  connect(unix socket)               |
///     |  &lt;-- {"QMP": {"version": ...}}      |   greeting (capabilities negotiation mode)
///     |  {"execute":"qmp_capabilities"} --> |
///     |  &lt;-- {"return": {}}                 |   command mode
///     |  {"execute":X,"arguments":A,"id":n}->|
///     |  &lt;-- {"event":"STOP",...}           |   events interleave with answers at any time
///     |  &lt;-- {"return":R,"id":n}            |   or {"error":{"class":C,"desc":D},"id":n}
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    /// <summary>A QMP message larger than this is a broken peer, not a message.</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;
    private const int EventQueueCapacity = 1024;

    private readonly Socket _socket;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly List<QmpEventSubscription> _subscriptions = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _shutdown = new();
    private byte[] _buffer = new byte[64 * 1024];
    private int _bufferStart, _bufferEnd;
    private long _nextId;
    private Task _readLoop = Task.CompletedTask;
    private volatile string? _closeReason;

    private QmpClient(Socket socket, TimeProvider time, TimeSpan defaultTimeout)
    {
        _socket = socket;
        _time = time;
        DefaultTimeout = defaultTimeout;
    }

    /// <summary>Timeout of a command issued without its own.</summary>
    public TimeSpan DefaultTimeout { get; }

    /// <summary>QEMU's version from the greeting, e.g. "7.2.22".</summary>
    public string QemuVersion { get; private set; } = "";

    /// <summary>Completes when the connection has ended (never faults).</summary>
    public Task Completion => _completion.Task;

    public bool IsConnected => !_completion.Task.IsCompleted;

    /// <summary>Why the connection ended ("QEMU closed the connection", an I/O error, a protocol error).</summary>
    public string? CloseReason => _closeReason;

    /// <summary>Connects, reads the greeting and leaves capabilities negotiation with qmp_capabilities.</summary>
    /// <exception cref="SocketException">Nothing listens on <paramref name="socketPath"/>.</exception>
    /// <exception cref="QmpConnectionLostException">The peer is not QMP or went away during the handshake.</exception>
    public static async Task<QmpClient> ConnectAsync(string socketPath, TimeSpan? defaultTimeout = null,
        TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        var time = timeProvider ?? TimeProvider.System;
        var timeout = defaultTimeout ?? TimeSpan.FromSeconds(30);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cts.Token).ConfigureAwait(false);
            var client = new QmpClient(socket, time, timeout);
            try
            {
                await client.HandshakeAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                await client.DisposeAsync().ConfigureAwait(false);
                throw new QmpConnectionLostException($"QMP handshake on {socketPath} took longer than {timeout.TotalSeconds:0.#} s");
            }
            catch
            {
                await client.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            return client;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var greeting = await ReadMessageAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new QmpConnectionLostException("the QMP peer closed the connection before its greeting");
        using (greeting)
        {
            if (!greeting.RootElement.TryGetProperty("QMP", out var qmp))
            {
                throw new QmpConnectionLostException("the peer is not QMP: its first message has no \"QMP\" greeting");
            }
            if (qmp.TryGetProperty("version", out var v) && v.TryGetProperty("qemu", out var q))
            {
                QemuVersion = $"{q.GetProperty("major").GetInt32()}.{q.GetProperty("minor").GetInt32()}.{q.GetProperty("micro").GetInt32()}";
            }
        }
        _readLoop = Task.Run(ReadLoopAsync);
        await ExecuteAsync("qmp_capabilities", null, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Subscribes to events from now on. Dispose the subscription when done.</summary>
    public QmpEventSubscription Subscribe()
    {
        var sub = new QmpEventSubscription(EventQueueCapacity, s => { lock (_subscriptions) _subscriptions.Remove(s); });
        lock (_subscriptions)
        {
            if (_completion.Task.IsCompleted) sub.Channel.Writer.TryComplete();
            else _subscriptions.Add(sub);
        }
        return sub;
    }

    /// <summary>
    /// Runs one command. <paramref name="arguments"/> is serialized with System.Text.Json (a dictionary
    /// for names with dashes, or an anonymous object). Returns the "return" member (cloned: it outlives
    /// the message).
    /// </summary>
    /// <exception cref="QmpException">QEMU answered with an error.</exception>
    /// <exception cref="TimeoutException">No answer within the timeout.</exception>
    /// <exception cref="QmpConnectionLostException">The connection ended first.</exception>
    public async Task<JsonElement> ExecuteAsync(string command, object? arguments = null, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        if (_completion.Task.IsCompleted)
        {
            throw new QmpConnectionLostException($"QMP {command}: not connected ({_closeReason})");
        }
        var id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        var limit = timeout ?? DefaultTimeout;
        using var timeoutCts = new CancellationTokenSource(limit, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        try
        {
            var payload = Serialize(command, arguments, id);
            await _writeLock.WaitAsync(linked.Token).ConfigureAwait(false);
            try
            {
                await _socket.SendAsync(payload, SocketFlags.None, linked.Token).ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }
            return await tcs.Task.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeoutCts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"QMP {command} got no answer within {limit.TotalSeconds:0.###} s");
        }
        catch (QmpException e) when (e.Command.Length == 0)
        {
            throw new QmpException(command, e.ErrorClass, e.Description);
        }
        catch (SocketException e)
        {
            Close($"write failed: {e.Message}");
            throw new QmpConnectionLostException($"QMP {command}: connection lost ({e.Message})", e);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private static byte[] Serialize(string command, object? arguments, long id)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("execute", command);
            if (arguments is not null)
            {
                w.WritePropertyName("arguments");
                JsonSerializer.Serialize(w, arguments, arguments.GetType());
            }
            w.WriteNumber("id", id);
            w.WriteEndObject();
        }
        var bytes = new byte[buffer.WrittenCount + 1];
        buffer.WrittenSpan.CopyTo(bytes);
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    private async Task ReadLoopAsync()
    {
        var reason = "QEMU closed the QMP connection";
        try
        {
            while (true)
            {
                using var doc = await ReadMessageAsync(_shutdown.Token).ConfigureAwait(false);
                if (doc is null) break;
                Dispatch(doc.RootElement);
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            reason = "the client closed the QMP connection";
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            reason = $"QMP connection error: {e.Message}";
        }
        catch (QmpConnectionLostException e)
        {
            reason = e.Message;
        }
        Close(reason);
    }

    private void Dispatch(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return;
        if (root.TryGetProperty("event", out var ev) && ev.ValueKind == JsonValueKind.String)
        {
            var data = root.TryGetProperty("data", out var d) ? d.Clone() : JsonDocument.Parse("{}").RootElement.Clone();
            var ts = DateTimeOffset.UnixEpoch;
            if (root.TryGetProperty("timestamp", out var t) && t.TryGetProperty("seconds", out var s) && t.TryGetProperty("microseconds", out var us))
            {
                ts = DateTimeOffset.FromUnixTimeSeconds(s.GetInt64()).AddTicks(us.GetInt64() * 10);
            }
            var e = new QmpEvent(ev.GetString()!, data, ts);
            lock (_subscriptions)
            {
                foreach (var sub in _subscriptions) sub.Channel.Writer.TryWrite(e);
            }
            return;
        }
        // Answers carry the id we sent. One without an id (QEMU could not parse a command) has no owner.
        if (!root.TryGetProperty("id", out var idEl) || !idEl.TryGetInt64(out var id)) return;
        if (!_pending.TryGetValue(id, out var tcs)) return; // timed out earlier: drop the late answer
        if (root.TryGetProperty("return", out var ret))
        {
            tcs.TrySetResult(ret.Clone());
        }
        else if (root.TryGetProperty("error", out var err))
        {
            var cls = err.TryGetProperty("class", out var c) ? c.GetString() ?? "" : "";
            var desc = err.TryGetProperty("desc", out var ds) ? ds.GetString() ?? "" : "";
            tcs.TrySetException(new QmpException("", cls, desc));
        }
    }

    /// <summary>Reads one newline-terminated JSON message, or null at end of stream.</summary>
    private async Task<JsonDocument?> ReadMessageAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var span = _buffer.AsSpan(_bufferStart, _bufferEnd - _bufferStart);
            var nl = span.IndexOf((byte)'\n');
            if (nl >= 0)
            {
                var line = _buffer.AsMemory(_bufferStart, nl);
                _bufferStart += nl + 1;
                if (line.Span.Trim((byte)'\r').IsEmpty) continue;
                try
                {
                    return JsonDocument.Parse(line.ToArray()); // copied: the buffer is reused by the next read
                }
                catch (JsonException e)
                {
                    throw new QmpConnectionLostException($"QMP peer sent malformed JSON: {e.Message}", e);
                }
            }
            if (_bufferStart > 0)
            {
                Buffer.BlockCopy(_buffer, _bufferStart, _buffer, 0, _bufferEnd - _bufferStart);
                _bufferEnd -= _bufferStart;
                _bufferStart = 0;
            }
            if (_bufferEnd == _buffer.Length)
            {
                if (_buffer.Length >= MaxMessageBytes)
                {
                    throw new QmpConnectionLostException($"QMP peer sent a message longer than {MaxMessageBytes} bytes");
                }
                Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxMessageBytes));
            }
            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_bufferEnd), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0) return null;
            _bufferEnd += n;
        }
    }

    private void Close(string reason)
    {
        lock (_subscriptions)
        {
            if (_completion.Task.IsCompleted) return;
            _closeReason = reason;
            foreach (var sub in _subscriptions) sub.Channel.Writer.TryComplete();
            _subscriptions.Clear();
        }
        foreach (var (_, tcs) in _pending)
        {
            tcs.TrySetException(new QmpConnectionLostException($"QMP connection lost: {reason}"));
        }
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _completion.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        _shutdown.Cancel();
        Close("the client closed the QMP connection");
        try { await _readLoop.ConfigureAwait(false); } catch (Exception e) { Debug.Fail($"QMP read loop threw: {e}"); }
        _socket.Dispose();
        _shutdown.Dispose();
    }

    // ---- typed commands ----

    public async Task<QmpRunStatus> QueryStatusAsync(CancellationToken cancellationToken = default)
    {
        var r = await ExecuteAsync("query-status", null, null, cancellationToken).ConfigureAwait(false);
        return new QmpRunStatus(r.GetProperty("status").GetString() ?? "", r.GetProperty("running").GetBoolean());
    }

    public async Task<QmpMigrationInfo> QueryMigrateAsync(CancellationToken cancellationToken = default) =>
        QmpMigrationInfo.Parse(await ExecuteAsync("query-migrate", null, null, cancellationToken).ConfigureAwait(false));

    public Task MigrateAsync(string uri, CancellationToken cancellationToken = default) =>
        ExecuteAsync("migrate", new Dictionary<string, object> { ["uri"] = uri }, null, cancellationToken);

    public Task MigrateIncomingAsync(string uri, CancellationToken cancellationToken = default) =>
        ExecuteAsync("migrate-incoming", new Dictionary<string, object> { ["uri"] = uri }, null, cancellationToken);

    /// <summary>Sets migration capabilities by QEMU name ("events", "auto-converge",
    /// "pause-before-switchover", "postcopy-ram", ...).</summary>
    public Task MigrateSetCapabilitiesAsync(IEnumerable<KeyValuePair<string, bool>> capabilities, CancellationToken cancellationToken = default)
    {
        var list = capabilities.Select(c => new Dictionary<string, object> { ["capability"] = c.Key, ["state"] = c.Value }).ToList();
        return ExecuteAsync("migrate-set-capabilities", new Dictionary<string, object> { ["capabilities"] = list }, null, cancellationToken);
    }

    /// <summary>Sets migration parameters by QEMU name ("downtime-limit" in ms, "max-bandwidth" in bytes/s,
    /// "max-postcopy-bandwidth", "cpu-throttle-initial", ...).</summary>
    public Task MigrateSetParametersAsync(IReadOnlyDictionary<string, object> parameters, CancellationToken cancellationToken = default) =>
        ExecuteAsync("migrate-set-parameters", parameters, null, cancellationToken);

    /// <summary>Leaves the pause QEMU entered because of pause-before-switchover.</summary>
    public Task MigrateContinueAsync(string state = "pre-switchover", CancellationToken cancellationToken = default) =>
        ExecuteAsync("migrate-continue", new Dictionary<string, object> { ["state"] = state }, null, cancellationToken);

    public Task MigrateCancelAsync(CancellationToken cancellationToken = default) =>
        ExecuteAsync("migrate_cancel", null, null, cancellationToken);

    public Task MigrateStartPostcopyAsync(CancellationToken cancellationToken = default) =>
        ExecuteAsync("migrate-start-postcopy", null, null, cancellationToken);

    /// <summary>Presses the ACPI power button.</summary>
    public Task SystemPowerdownAsync(CancellationToken cancellationToken = default) =>
        ExecuteAsync("system_powerdown", null, null, cancellationToken);

    public Task SystemResetAsync(CancellationToken cancellationToken = default) =>
        ExecuteAsync("system_reset", null, null, cancellationToken);

    /// <summary>Pauses the vCPUs.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) =>
        ExecuteAsync("stop", null, null, cancellationToken);

    /// <summary>Resumes the vCPUs.</summary>
    public Task ContAsync(CancellationToken cancellationToken = default) =>
        ExecuteAsync("cont", null, null, cancellationToken);

    public Task<JsonElement> QueryBlockAsync(CancellationToken cancellationToken = default) =>
        ExecuteAsync("query-block", null, null, cancellationToken);

    /// <summary>Asks QEMU to exit. QEMU may close the connection before it answers: that counts as done.</summary>
    public async Task QuitAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await ExecuteAsync("quit", null, null, cancellationToken).ConfigureAwait(false);
        }
        catch (QmpConnectionLostException)
        {
        }
    }
}
