using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fabric.Core.Io;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.BlockBackend.Nbd;

/// <summary>
/// An NBD server (fixed newstyle, simple replies) exporting the volumes of an <see cref="IBlockVolumeProvider"/>
/// by name, on TCP and/or a unix socket. Every connection to one export shares one opened volume, so a
/// flush on any connection covers writes completed on all of them (CAN_MULTI_CONN). A misbehaving client
/// loses its own connection, never the server.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly NbdServerOptions _options;
    private readonly ILogger _logger;
    private readonly NbdExportRegistry _registry;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Socket> _listeners = new();
    private readonly List<Task> _acceptLoops = new();
    private readonly ConcurrentDictionary<long, (NbdConnection Connection, Task Done)> _connections = new();
    private long _nextConnectionId;
    private int _started;

    public NbdServer(IBlockVolumeProvider provider, NbdServerOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(options);
        if (options.TcpHost is null && options.UnixSocketPath is null)
        {
            throw new ArgumentException("an NBD server needs a TCP host or a unix socket path", nameof(options));
        }
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _registry = new NbdExportRegistry(provider, options.ReadOnly);
    }

    /// <summary>The TCP port bound (after <see cref="Start"/>), or null without a TCP listener.</summary>
    public int? TcpPort { get; private set; }

    public string? TcpHost => _options.TcpHost;

    public string? UnixSocketPath => _options.UnixSocketPath;

    /// <summary>Connections currently open (any phase).</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Exports currently opened by at least one connection.</summary>
    public int OpenExportCount => _registry.OpenCount;

    /// <summary>Binds the listeners and starts accepting. Throws when a socket cannot be bound (edge).</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("the NBD server is already started");
        }
        if (_options.TcpHost is { } host)
        {
            var address = IPAddress.Parse(host);
            var tcp = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            tcp.Bind(new IPEndPoint(address, _options.TcpPort));
            tcp.Listen(64);
            TcpPort = ((IPEndPoint)tcp.LocalEndPoint!).Port;
            _listeners.Add(tcp);
            NbdLog.Listening(_logger, $"tcp {host}:{TcpPort}");
        }
        if (_options.UnixSocketPath is { } path)
        {
            if (File.Exists(path))
            {
                File.Delete(path); // a stale socket from a previous run
            }
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            unix.Bind(new UnixDomainSocketEndPoint(path));
            unix.Listen(64);
            _listeners.Add(unix);
            NbdLog.Listening(_logger, $"unix {path}");
        }
        foreach (var listener in _listeners)
        {
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(listener)));
        }
    }

    /// <summary>
    /// The URIs qemu-img/qemu-io/QEMU accept for an export: <c>nbd://HOST:PORT/NAME</c> and
    /// <c>nbd+unix:///NAME?socket=PATH</c>, for the listeners this server has.
    /// </summary>
    public IReadOnlyList<string> GetExportUris(string exportName)
    {
        var uris = new List<string>(2);
        string escaped = Uri.EscapeDataString(exportName);
        if (_options.UnixSocketPath is { } path)
        {
            uris.Add($"nbd+unix:///{escaped}?socket={path}");
        }
        if (_options.TcpHost is { } host && TcpPort is { } port)
        {
            string h = IPAddress.Parse(host).AddressFamily == AddressFamily.InterNetworkV6 ? $"[{host}]" : host;
            uris.Add($"nbd://{h}:{port}/{escaped}");
        }
        return uris;
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        var ct = _stopping.Token;
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                NbdLog.ConnectionFailed(_logger, -1, $"accept failed: {e.Message}");
                continue;
            }
            if (client.ProtocolType == ProtocolType.Tcp)
            {
                client.NoDelay = true;
            }
            long id = Interlocked.Increment(ref _nextConnectionId);
            var connection = new NbdConnection(id, client, _registry, _options, _logger);
            // One thread per connection with blocking socket calls: a request costs recv, the volume call and
            // send on one thread, with no hop through the socket engine and the thread pool (few connections
            // per node: VM disks and tools).
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _connections[id] = (connection, done.Task);
            var thread = new Thread(() =>
            {
                try
                {
                    connection.Run(ct);
                }
                finally
                {
                    _connections.TryRemove(id, out _);
                    done.TrySetResult();
                }
            })
            { IsBackground = true, Name = $"nbd conn {id}" };
            thread.Start();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        _stopping.Cancel();
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        var open = _connections.Values.ToList();
        foreach (var (connection, _) in open)
        {
            connection.Abort();
        }
        await Task.WhenAll(open.Select(c => c.Done)).ConfigureAwait(false);
        if (_options.UnixSocketPath is { } path && File.Exists(path))
        {
            File.Delete(path);
        }
        _stopping.Dispose();
    }
}
