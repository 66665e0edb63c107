using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using Fabric.Switch.Packets;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>
/// Plays a VM NIC on QEMU's `-netdev stream,server=on,addr.type=unix`: listens on a unix socket the
/// node's switch connects to, and speaks QEMU's framing (4-byte big-endian length, then the Ethernet
/// frame, both ways). Like a guest's kernel it answers ARP requests for its address and ICMP echo
/// requests to it; every frame it receives is kept (with the time it arrived) for the test to check.
/// </summary>
public sealed class FakeStreamNic : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly object _gate = new();
    private readonly List<(long Ticks, byte[] Frame)> _received = [];
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Socket? _connection;

    public FakeStreamNic(string port, string socketPath, MacAddress mac, uint ip)
    {
        Port = port;
        SocketPath = socketPath;
        Mac = mac;
        Ip = ip;
        if (File.Exists(socketPath)) File.Delete(socketPath);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(4);
        _accepting = Task.Run(AcceptLoopAsync);
    }

    public string Port { get; }

    public string SocketPath { get; }

    public MacAddress Mac { get; }

    public uint Ip { get; }

    public string IpText => IpBits.FormatIpv4(Ip);

    /// <summary>Answer ARP and ping like a guest (on by default).</summary>
    public bool AutoAnswer { get; set; } = true;

    public Task WaitConnectedAsync(TimeSpan timeout) => _connected.Task.WaitAsync(timeout);

    /// <summary>Every frame received so far, in order.</summary>
    public IReadOnlyList<byte[]> Received
    {
        get
        {
            lock (_gate) return _received.Select(r => r.Frame).ToList();
        }
    }

    /// <summary>How many frames have arrived: a mark for <see cref="WaitForAsync"/> to look after.</summary>
    public int Mark
    {
        get
        {
            lock (_gate) return _received.Count;
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            var old = _connection;
            _connection = socket;
            old?.Dispose();
            _connected.TrySetResult();
            _ = Task.Run(() => ReadLoopAsync(socket));
        }
    }

    private async Task ReadLoopAsync(Socket socket)
    {
        var header = new byte[4];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await ReadExactlyAsync(socket, header);
                int length = (int)BinaryPrimitives.ReadUInt32BigEndian(header);
                if (length is <= 0 or > 65535) throw new InvalidDataException($"{Port}: the switch sent a frame length of {length}");
                var frame = new byte[length];
                await ReadExactlyAsync(socket, frame);
                lock (_gate) _received.Add((Stopwatch.GetTimestamp(), frame));
                _arrived.Release();
                if (AutoAnswer) await AnswerAsync(frame);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested || !ReferenceEquals(_connection, socket))
        {
            // Closed by us, or replaced by a reconnection.
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException or ObjectDisposedException)
        {
            // The switch closed the connection (port detached, node stopped).
        }
    }

    private async Task ReadExactlyAsync(Socket socket, byte[] buffer)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, _stop.Token);
            if (n == 0) throw new EndOfStreamException();
            got += n;
        }
    }

    private async Task AnswerAsync(byte[] frame)
    {
        if (!TryParse(frame, out var key, out var layout)) return;
        if (key.EthType == EtherType.Arp && key.IpProto == ArpPacket.OpRequest && key.IpDst == IpBits.FromIpv4(Ip) && key.IpSrc != key.IpDst)
        {
            var b = new byte[64];
            await SendAsync(b[..PacketBuilder.ArpReply(b, Mac, Ip, key.Source, IpBits.ToIpv4(key.IpSrc))]);
        }
        else if (key.EthType == EtherType.Ipv4 && key.IpProto == IpProtocol.Icmp && key.L4Src == IcmpMessage.EchoRequest
                 && key.IpDst == IpBits.FromIpv4(Ip) && key.Destination == Mac)
        {
            IcmpMessage.TryParse(frame.AsSpan(layout.L4Offset).ToArray(), out var icmp);
            var b = new byte[frame.Length + 64];
            await SendAsync(b[..PacketBuilder.IcmpEcho(b, key.Source, Mac, Ip, IpBits.ToIpv4(key.IpSrc), icmp.Identifier, icmp.Sequence, icmp.Body, reply: true)]);
        }
    }

    public static bool TryParse(byte[] frame, out FlowKey key, out FrameLayout layout) =>
        FrameParser.Parse(frame.ToArray(), 0, out key, out layout) == FrameError.None;

    public async Task SendAsync(ReadOnlyMemory<byte> frame)
    {
        var socket = _connection ?? throw new InvalidOperationException($"{Port}: the switch has not connected to {SocketPath}");
        var buffer = new byte[4 + frame.Length];
        BinaryPrimitives.WriteUInt32BigEndian(buffer, (uint)frame.Length);
        frame.Span.CopyTo(buffer.AsSpan(4));
        await _sendLock.WaitAsync();
        try
        {
            int sent = 0;
            while (sent < buffer.Length) sent += await socket.SendAsync(buffer.AsMemory(sent), SocketFlags.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Waits for a frame received after <paramref name="mark"/> that <paramref name="match"/> accepts.</summary>
    public async Task<byte[]> WaitForAsync(Func<FlowKey, byte[], bool> match, TimeSpan timeout, string what, int mark = 0)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            List<byte[]> frames;
            lock (_gate) frames = _received.Skip(mark).Select(r => r.Frame).ToList();
            foreach (var f in frames)
            {
                if (TryParse(f, out var k, out _) && match(k, f)) return f;
            }
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (left <= TimeSpan.Zero) throw new TimeoutException($"{Port}: no {what} within {timeout.TotalSeconds:0.#} s ({frames.Count} other frame(s) arrived)");
            await _arrived.WaitAsync(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
        }
    }

    /// <summary>ARP for <paramref name="ip"/>; returns the MAC in the reply.</summary>
    public async Task<MacAddress> ResolveAsync(uint ip, TimeSpan timeout)
    {
        int mark = Mark;
        var b = new byte[64];
        await SendAsync(b[..PacketBuilder.ArpRequest(b, Mac, Ip, ip)]);
        var reply = await WaitForAsync((k, _) => k.EthType == EtherType.Arp && k.IpProto == ArpPacket.OpReply && k.IpSrc == IpBits.FromIpv4(ip),
            timeout, $"ARP reply for {IpBits.FormatIpv4(ip)}", mark);
        TryParse(reply, out _, out var layout);
        ArpPacket.TryParse(reply.AsSpan(layout.L3Offset).ToArray(), out var arp);
        return arp.SenderMac;
    }

    /// <summary>Sends one echo request and waits for its reply.</summary>
    public async Task PingAsync(MacAddress mac, uint ip, ushort sequence, TimeSpan timeout)
    {
        int mark = Mark;
        await SendEchoAsync(mac, ip, sequence);
        await WaitForEchoReplyAsync(ip, sequence, timeout, mark);
    }

    public async Task SendEchoAsync(MacAddress mac, uint ip, ushort sequence)
    {
        var b = new byte[128];
        await SendAsync(b[..PacketBuilder.IcmpEcho(b, mac, Mac, Ip, ip, 0x4242, sequence, "fabric-it"u8)]);
    }

    public Task<byte[]> WaitForEchoReplyAsync(uint ip, ushort sequence, TimeSpan timeout, int mark) =>
        WaitForAsync((k, f) => k.EthType == EtherType.Ipv4 && k.IpProto == IpProtocol.Icmp && k.L4Src == IcmpMessage.EchoReply
            && k.IpSrc == IpBits.FromIpv4(ip) && EchoSequence(f) == sequence, timeout, $"echo reply {sequence} from {IpBits.FormatIpv4(ip)}", mark);

    public static ushort EchoSequence(byte[] frame)
    {
        if (!TryParse(frame, out _, out var layout) || layout.L4Offset < 0 || frame.Length < layout.L4Offset + 8) return 0;
        return BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(layout.L4Offset + 6));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _connection?.Dispose();
        _listener.Dispose();
        try
        {
            await _accepting;
        }
        catch (Exception)
        {
            // The accept loop ends with the listener.
        }
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }
        _stop.Dispose();
    }
}
