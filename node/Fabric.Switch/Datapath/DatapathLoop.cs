// The datapath thread: one dedicated thread per switch that owns the SwitchDatapath. It waits in
// epoll_wait on every port's descriptor plus an eventfd for commands, and per wake-up:
//
//   epoll_wait ──> commands (control plane: config, ports, queries)   [eventfd]
//             └──> readable ports: read a bounded batch, Process each frame
//             └──> writable ports: flush what the socket refused before
//   then FlushPorts (one send per port per batch), then timers (MAC aging 1 s, port retries 100 ms)
//
// Everything that touches the datapath runs here, so the forwarding state needs no locks. The control
// plane talks to it only through InvokeAsync.
using System.Collections.Concurrent;
using Fabric.Switch.Native;
using Fabric.Switch.Ports;
using Microsoft.Extensions.Logging;

namespace Fabric.Switch.Datapath;

public sealed unsafe class DatapathLoop : IDisposable
{
    private const ulong CommandToken = ulong.MaxValue;
    private const int MaxEvents = 64;
    private static readonly TimeSpan TimerPeriod = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan AgingPeriod = TimeSpan.FromSeconds(1);

    private readonly SwitchDatapath _dp;
    private readonly ILogger _log;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly Dictionary<ushort, (int Fd, uint Events)> _registered = new();
    private readonly string _name;
    private Thread? _thread;
    private int _epfd = -1;
    private int _eventFd = -1;
    private volatile bool _stopping;
    private long _nextTimer;
    private long _nextAging;
    private long _portsVersionSeen;

    public DatapathLoop(SwitchDatapath datapath, ILogger logger, string name = "fabric-switch")
    {
        _dp = datapath;
        _log = logger;
        _name = name;
    }

    public SwitchDatapath Datapath => _dp;
    public bool IsRunning => _thread is not null && !_stopping;
    public int ManagedThreadId => _thread?.ManagedThreadId ?? -1;
    public long Wakeups;

    /// <summary>
    /// Starts the thread. <paramref name="onThreadStart"/> runs first on the new thread (e.g. setns into a
    /// network namespace, so that every socket the ports create later belongs to that namespace).
    /// </summary>
    public void Start(Action? onThreadStart = null)
    {
        if (_thread is not null) throw new InvalidOperationException("started already");
        _epfd = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        if (_epfd < 0) throw Libc.Failure("epoll_create1", Libc.Errno);
        _eventFd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (_eventFd < 0) throw Libc.Failure("eventfd", Libc.Errno);
        var ev = new Libc.EpollEvent { Events = Libc.EPOLLIN, Data = CommandToken };
        if (Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_ADD, _eventFd, &ev) < 0) throw Libc.Failure("epoll_ctl(eventfd)", Libc.Errno);
        var started = new ManualResetEventSlim();
        Exception? startError = null;
        _thread = new Thread(() =>
        {
            try
            {
                onThreadStart?.Invoke();
            }
            catch (Exception e)
            {
                startError = e;
                started.Set();
                return;
            }
            started.Set();
            Run();
        })
        {
            IsBackground = true,
            Name = _name,
            Priority = ThreadPriority.AboveNormal,
        };
        _thread.Start();
        started.Wait();
        if (startError is not null)
        {
            _thread = null;
            throw new InvalidOperationException($"datapath thread failed to start: {startError.Message}", startError);
        }
    }

    /// <summary>Runs <paramref name="action"/> on the datapath thread and returns its result.</summary>
    public Task<T> InvokeAsync<T>(Func<SwitchDatapath, T> action)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_thread is null || _stopping)
        {
            tcs.SetException(new ObjectDisposedException(_name, "the switch is not running"));
            return tcs.Task;
        }
        _commands.Enqueue(() =>
        {
            try { tcs.SetResult(action(_dp)); }
            catch (Exception e) { tcs.SetException(e); }
        });
        ulong one = 1;
        Libc.write(_eventFd, &one, 8);
        return tcs.Task;
    }

    public Task InvokeAsync(Action<SwitchDatapath> action) => InvokeAsync<bool>(dp => { action(dp); return true; });

    private void Run()
    {
        var events = stackalloc Libc.EpollEvent[MaxEvents];
        var time = _dp.Time;
        _nextTimer = time.GetTimestamp();
        _nextAging = _nextTimer;
        while (!_stopping)
        {
            SyncRegistrations();
            int timeoutMs = Math.Max(0, (int)Math.Ceiling((_nextTimer - time.GetTimestamp()) * 1000.0 / time.TimestampFrequency));
            int n = Libc.epoll_wait(_epfd, events, MaxEvents, Math.Min(timeoutMs, 100));
            if (n < 0)
            {
                int errno = Libc.Errno;
                if (errno == Libc.EINTR) continue;
                _log.LogCritical("epoll_wait failed: {Error}; the datapath stops", Libc.StrError(errno));
                return;
            }
            Wakeups++;
            for (int i = 0; i < n; i++)
            {
                ulong token = events[i].Data;
                if (token == CommandToken)
                {
                    ulong v;
                    Libc.read(_eventFd, &v, 8);
                    RunCommands();
                    continue;
                }
                var port = _dp.Port((ushort)token);
                if (port is null) continue;
                try
                {
                    if ((events[i].Events & (Libc.EPOLLIN | Libc.EPOLLERR | Libc.EPOLLHUP)) != 0) port.OnReadable(_dp);
                    if ((events[i].Events & Libc.EPOLLOUT) != 0) port.OnWritable();
                }
                catch (Exception e)
                {
                    // A port's bug must not take the whole switch down: log it, the port retries on its timer.
                    _log.LogError(e, "port {Port} failed while handling I/O", port.Name);
                }
            }
            _dp.FlushPorts();
            long now = time.GetTimestamp();
            if (now >= _nextTimer)
            {
                _nextTimer = now + (long)(TimerPeriod.TotalSeconds * time.TimestampFrequency);
                foreach (var p in _dp.PortArray)
                {
                    try { p.OnTimer(now, time.TimestampFrequency); }
                    catch (Exception e) { _log.LogError(e, "port {Port} timer failed", p.Name); }
                }
                if (now >= _nextAging)
                {
                    _nextAging = now + (long)(AgingPeriod.TotalSeconds * time.TimestampFrequency);
                    _dp.AgeMacTables();
                }
                _dp.FlushPorts();
            }
        }
    }

    private void RunCommands()
    {
        while (_commands.TryDequeue(out var c)) c();
        _dp.FlushPorts();
    }

    /// <summary>Brings epoll's interest list in line with the ports' current descriptors and wishes.</summary>
    private void SyncRegistrations()
    {
        foreach (var p in _dp.PortArray)
        {
            int fd = p.PollFd;
            uint want = Libc.EPOLLIN | (p.WantsWritable ? Libc.EPOLLOUT : 0);
            bool has = _registered.TryGetValue(p.Number, out var reg);
            if (has && reg.Fd == fd && reg.Events == want) continue;
            if (has && reg.Fd >= 0 && reg.Fd != fd) Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_DEL, reg.Fd, null);
            if (fd < 0)
            {
                _registered.Remove(p.Number);
                continue;
            }
            var ev = new Libc.EpollEvent { Events = want, Data = p.Number };
            int op = has && reg.Fd == fd ? Libc.EPOLL_CTL_MOD : Libc.EPOLL_CTL_ADD;
            if (Libc.epoll_ctl(_epfd, op, fd, &ev) < 0 && op == Libc.EPOLL_CTL_ADD && Libc.Errno == 17 /* EEXIST */)
                Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_MOD, fd, &ev);
            _registered[p.Number] = (fd, want);
        }
        if (_dp.PortsVersion != _portsVersionSeen)
        {
            _portsVersionSeen = _dp.PortsVersion;
            List<ushort>? gone = null;
            foreach (var (num, reg) in _registered)
                if (_dp.Port(num) is null || _dp.Port(num)!.PollFd != reg.Fd) (gone ??= new()).Add(num);
            if (gone is not null)
                foreach (var num in gone)
                {
                    // The port was removed (its descriptor is closed, which drops it from epoll by itself)
                    // or replaced its descriptor since the pass above.
                    _registered.Remove(num);
                }
        }
    }

    public void Stop()
    {
        if (_thread is null || _stopping) return;
        _stopping = true;
        ulong one = 1;
        Libc.write(_eventFd, &one, 8);
        if (Thread.CurrentThread != _thread) _thread.Join();
        // Fail commands that raced with the stop.
        while (_commands.TryDequeue(out var c)) c();
    }

    public void Dispose()
    {
        Stop();
        Libc.CloseQuietly(ref _epfd);
        Libc.CloseQuietly(ref _eventFd);
    }
}
