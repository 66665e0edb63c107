using System.Buffers.Binary;
using System.Net.Sockets;
using Fabric.Core.Net;

namespace Fabric.Hypervisor.Tests.Infra;

/// <summary>
/// A test switch: a hub that connects to each VM NIC's QEMU stream socket (4-byte big-endian length,
/// then the Ethernet frame) and repeats every frame from an active port to every other active port.
/// Inactive ports are connected but neither send nor receive, like a migration destination's ports
/// before switch-over.
/// </summary>
public sealed class TestSwitch : ISwitchPorts, IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Port> _ports = new();

    private sealed class Port(string name, VmPortSpec spec, Socket socket)
    {
        public string Name { get; } = name;
        public VmPortSpec Spec { get; } = spec;
        public Socket Socket { get; } = socket;
        public volatile bool Active;
        public readonly SemaphoreSlim WriteLock = new(1, 1);
        public long FramesIn;
        public Task Reader = Task.CompletedTask;
    }

    public List<string> Journal { get; } = new();

    public IReadOnlyCollection<string> PortNames { get { lock (_gate) return _ports.Keys.ToList(); } }

    public bool IsActive(string port) { lock (_gate) return _ports.TryGetValue(port, out var p) && p.Active; }

    public long FramesFrom(string port) { lock (_gate) return _ports.TryGetValue(port, out var p) ? Interlocked.Read(ref p.FramesIn) : 0; }

    public async ValueTask<PortAttachResult> AttachStreamPortAsync(VmPortSpec spec, string socketPath, bool active, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_ports.ContainsKey(spec.PortName)) return new PortAttachResult(false, $"port {spec.PortName} exists already");
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                break;
            }
            catch (SocketException e) when (DateTime.UtcNow < deadline)
            {
                _ = e;
                await Task.Delay(20, cancellationToken);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                return new PortAttachResult(false, $"cannot connect to {socketPath}: {e.Message}");
            }
        }
        var port = new Port(spec.PortName, spec, socket) { Active = active };
        lock (_gate)
        {
            _ports[spec.PortName] = port;
            Journal.Add($"attach {spec.PortName} {(active ? "active" : "inactive")}");
        }
        port.Reader = Task.Run(() => ReadLoopAsync(port));
        return new PortAttachResult(true, null);
    }

    public ValueTask ActivatePortAsync(string portName, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_ports.TryGetValue(portName, out var p)) p.Active = true;
            Journal.Add($"activate {portName}");
        }
        return ValueTask.CompletedTask;
    }

    public async ValueTask DetachPortAsync(string portName, CancellationToken cancellationToken)
    {
        Port? p;
        lock (_gate)
        {
            if (!_ports.Remove(portName, out p)) return;
            Journal.Add($"detach {portName}");
        }
        p.Socket.Dispose();
        await p.Reader;
    }

    private async Task ReadLoopAsync(Port port)
    {
        var header = new byte[4];
        var frame = new byte[65536];
        try
        {
            while (true)
            {
                if (!await ReadExactlyAsync(port.Socket, header)) return;
                var len = BinaryPrimitives.ReadInt32BigEndian(header);
                if (len is <= 0 or > 65536) return; // not a frame: drop the connection
                if (!await ReadExactlyAsync(port.Socket, frame.AsMemory(0, len))) return;
                Interlocked.Increment(ref port.FramesIn);
                if (!port.Active) continue;
                List<Port> targets;
                lock (_gate) targets = _ports.Values.Where(p => p != port && p.Active).ToList();
                foreach (var t in targets) await SendAsync(t, header, frame.AsMemory(0, len));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private static async Task SendAsync(Port port, byte[] header, ReadOnlyMemory<byte> frame)
    {
        await port.WriteLock.WaitAsync();
        try
        {
            await port.Socket.SendAsync(header, SocketFlags.None);
            await port.Socket.SendAsync(frame, SocketFlags.None);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            port.WriteLock.Release();
        }
    }

    private static async Task<bool> ReadExactlyAsync(Socket s, Memory<byte> buffer)
    {
        var got = 0;
        while (got < buffer.Length)
        {
            var n = await s.ReceiveAsync(buffer[got..], SocketFlags.None);
            if (n == 0) return false;
            got += n;
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var name in PortNames) await DetachPortAsync(name, CancellationToken.None);
    }
}
