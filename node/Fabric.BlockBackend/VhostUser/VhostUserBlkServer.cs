using Fabric.BlockBackend.Native;
using Fabric.Core.Io;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// A vhost-user-blk device on one unix socket, serving one volume to one front-end (QEMU) at a time.
/// When the front-end disconnects or breaks the protocol, its session is torn down and the server accepts
/// the next connection: that is how QEMU (<c>-chardev socket,...,reconnect=1</c>) reconnects, and how a
/// restarted backend picks a running guest back up (the inflight region resubmits unfinished requests).
/// </summary>
/// <remarks>The server does not own the volume: the caller disposes it after disposing the server.</remarks>
public sealed class VhostUserBlkServer : IAsyncDisposable
{
    private readonly IBlockVolume _volume;
    private readonly VhostUserBlkOptions _options;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private int _listenFd = -1;
    private int _stopFd = -1;
    private Thread? _thread;
    private VhostUserBlkSession? _current;
    private volatile bool _stopping;
    private long _sessions;

    public VhostUserBlkServer(string socketPath, IBlockVolume volume, VhostUserBlkOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(volume);
        options ??= new VhostUserBlkOptions();
        if (options.NumQueues is < 1 or > VhostUserProtocol.MaxQueues)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"NumQueues must be 1..{VhostUserProtocol.MaxQueues}");
        }
        SocketPath = socketPath;
        _volume = volume;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
    }

    public string SocketPath { get; }

    /// <summary>Sessions accepted so far (a reconnect is a new session).</summary>
    public long SessionCount => Interlocked.Read(ref _sessions);

    /// <summary>True while a front-end is connected.</summary>
    public bool Connected
    {
        get
        {
            lock (_gate)
            {
                return _current is not null;
            }
        }
    }

    /// <summary>The last session's end: null for a clean hang-up, else the logged reason.</summary>
    public string? LastSessionError { get; private set; }

    /// <summary>Binds the socket (replacing a stale file) and starts accepting.</summary>
    public unsafe void Start()
    {
        if (_thread is not null)
        {
            throw new InvalidOperationException("already started");
        }
        if (File.Exists(SocketPath))
        {
            File.Delete(SocketPath);
        }
        Span<byte> address = stackalloc byte[110];
        if (!Libc.TryFillUnixAddress(SocketPath, address, out uint length))
        {
            throw new ArgumentException($"socket path '{SocketPath}' is empty or longer than 107 bytes");
        }
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new IOException($"socket: {Libc.ErrorText(Libc.LastError)}");
        }
        fixed (byte* a = address)
        {
            // SAFETY: a points at a filled 110-byte sockaddr_un; length <= 110.
            if (Libc.Bind(fd, a, length) != 0 || Libc.Listen(fd, 4) != 0)
            {
                int errno = Libc.LastError;
                Libc.Close(fd);
                throw new IOException($"bind/listen {SocketPath}: {Libc.ErrorText(errno)}");
            }
        }
        _listenFd = fd;
        _stopFd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        _thread = new Thread(AcceptLoop) { IsBackground = true, Name = $"vhost-user-blk {Path.GetFileName(SocketPath)}" };
        _thread.Start();
        VhostUserLog.Listening(_logger, SocketPath, _volume.Name);
    }

    private unsafe void AcceptLoop()
    {
        var fds = stackalloc Libc.PollFd[2];
        while (!_stopping)
        {
            fds[0] = new Libc.PollFd { Fd = _listenFd, Events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { Fd = _stopFd, Events = Libc.POLLIN };
            // SAFETY: fds points at two stack PollFd structs.
            if (Libc.Poll(fds, 2, -1) < 0 || _stopping || (fds[0].ReturnedEvents & Libc.POLLIN) == 0)
            {
                continue;
            }
            int client = Libc.Accept4(_listenFd, null, null, Libc.SOCK_CLOEXEC);
            if (client < 0)
            {
                continue;
            }
            long id = Interlocked.Increment(ref _sessions);
            var session = new VhostUserBlkSession(client, _volume, _options, SocketPath, _logger);
            lock (_gate)
            {
                if (_stopping)
                {
                    session.Dispose();
                    return;
                }
                _current = session;
            }
            VhostUserLog.Connected(_logger, SocketPath, id);
            string? error;
            try
            {
                error = session.Run();
            }
            catch (Exception e)
            {
                // A bug here must cost this session, not the node.
                error = $"internal error: {e}";
            }
            LastSessionError = error;
            if (error is null)
            {
                VhostUserLog.SessionEnded(_logger, SocketPath, id);
            }
            else
            {
                VhostUserLog.SessionFailed(_logger, SocketPath, id, error);
            }
            lock (_gate)
            {
                _current = null;
            }
            session.Dispose();
        }
    }

    /// <summary>Drops the current front-end (it may reconnect). For tests and for fencing.</summary>
    public void DisconnectCurrent()
    {
        lock (_gate)
        {
            _current?.Shutdown();
        }
    }

    public ValueTask DisposeAsync()
    {
        if (_stopping)
        {
            return ValueTask.CompletedTask;
        }
        _stopping = true;
        if (_stopFd >= 0)
        {
            Libc.SignalEventFd(_stopFd);
        }
        DisconnectCurrent();
        _thread?.Join();
        if (_listenFd >= 0)
        {
            Libc.Close(_listenFd);
        }
        if (_stopFd >= 0)
        {
            Libc.Close(_stopFd);
        }
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}
