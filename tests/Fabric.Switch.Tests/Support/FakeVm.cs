// Plays QEMU's `-netdev stream,server=on` for a VM NIC: listens on a unix socket, accepts the switch's
// connection (and its reconnections), and speaks the stream framing (4-byte big-endian length + frame).
// It answers ARP for its own IP and ICMP echo requests to it, like a guest's kernel would, and records
// every frame it receives so tests can assert what reached the VM.
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Tests.Support;

public sealed class FakeVm : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _acceptLoop;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentQueue<byte[]> _received = new();
    private readonly SemaphoreSlim _arrived = new(0);
    private volatile Socket? _conn;
    private readonly TaskCompletionSourceSlot _connected = new();

    public FakeVm(string name, string socketPath, MacAddress mac, uint ip)
    {
        Name = name;
        SocketPath = socketPath;
        Mac = mac;
        Ip = ip;
        if (File.Exists(socketPath)) File.Delete(socketPath);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(1);
        _acceptLoop = Task.Run(AcceptLoop);
    }

    public string Name { get; }
    public string SocketPath { get; }
    public MacAddress Mac { get; }
    public uint Ip { get; }
    public bool AnswerArp { get; set; } = true;
    public bool AnswerPing { get; set; } = true;
    public int Connections;

    /// <summary>Every frame received, in order (the auto-answered ones too).</summary>
    public IReadOnlyCollection<byte[]> Received => _received;

    private sealed class TaskCompletionSourceSlot
    {
        private TaskCompletionSource _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task Task => Volatile.Read(ref _tcs).Task;
        public void Set() => Volatile.Read(ref _tcs).TrySetResult();
    }

    public Task WaitConnectedAsync(TimeSpan timeout) => _connected.Task.WaitAsync(timeout);

    private async Task AcceptLoop()
    {
        while (!_cts.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_cts.Token); }
            catch { return; }
            var old = _conn;
            _conn = s;
            old?.Dispose();
            Interlocked.Increment(ref Connections);
            _connected.Set();
            _ = Task.Run(() => ReadLoop(s));
        }
    }

    private async Task ReadLoop(Socket s)
    {
        var header = new byte[4];
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                await ReadExactly(s, header);
                int len = (int)BinaryPrimitives.ReadUInt32BigEndian(header);
                var frame = new byte[len];
                await ReadExactly(s, frame);
                _received.Enqueue(frame);
                _arrived.Release();
                await AutoAnswer(frame);
            }
        }
        catch
        {
            // Connection closed (the switch went away or reconnected).
        }
    }

    private async Task ReadExactly(Socket s, byte[] buf)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int n = await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None, _cts.Token);
            if (n == 0) throw new EndOfStreamException();
            got += n;
        }
    }

    private async Task AutoAnswer(byte[] frame)
    {
        if (FrameParser.Parse(frame.ToArray(), 0, out var key, out var layout) != FrameError.None) return;
        if (AnswerArp && key.EthType == EtherType.Arp && key.IpProto == ArpPacket.OpRequest && key.IpDst == IpBits.FromIpv4(Ip)
            && key.IpSrc != key.IpDst)
        {
            var b = new byte[64];
            int n = PacketBuilder.ArpReply(b, Mac, Ip, key.Source, IpBits.ToIpv4(key.IpSrc));
            await SendAsync(b[..n]);
        }
        else if (AnswerPing && key.EthType == EtherType.Ipv4 && key.IpProto == IpProtocol.Icmp && key.L4Src == IcmpMessage.EchoRequest
                 && key.IpDst == IpBits.FromIpv4(Ip))
        {
            var icmpBytes = frame.AsSpan(layout.L4Offset).ToArray();
            IcmpMessage.TryParse(icmpBytes, out var icmp);
            var b = new byte[frame.Length + 64];
            int n = PacketBuilder.IcmpEcho(b, key.Source, Mac, Ip, IpBits.ToIpv4(key.IpSrc), icmp.Identifier, icmp.Sequence, icmp.Body, reply: true);
            await SendAsync(b[..n]);
        }
    }

    public async Task SendAsync(byte[] frame)
    {
        var s = _conn ?? throw new InvalidOperationException($"{Name}: the switch is not connected");
        var buf = new byte[4 + frame.Length];
        BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)frame.Length);
        frame.CopyTo(buf, 4);
        await _sendLock.WaitAsync();
        try { await s.SendAsync(buf, SocketFlags.None); }
        finally { _sendLock.Release(); }
    }

    /// <summary>Waits until a received frame satisfies <paramref name="match"/> (frames already received count).</summary>
    public async Task<byte[]> WaitForAsync(Func<FlowKey, byte[], bool> match, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var f in _received)
                if (FrameParser.Parse(f.ToArray(), 0, out var k, out _) == FrameError.None && match(k, f)) return f;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"{Name}: no {what} within {timeout.TotalSeconds:F1} s ({_received.Count} frames received)");
            await _arrived.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    public void ClearReceived()
    {
        while (_received.TryDequeue(out _)) { }
    }

    /// <summary>Resolves <paramref name="ip"/> with ARP, then pings it; returns the peer's MAC.</summary>
    public async Task<MacAddress> PingAsync(uint ip, ushort sequence, TimeSpan timeout)
    {
        var b = new byte[128];
        int n = PacketBuilder.ArpRequest(b, Mac, Ip, ip);
        await SendAsync(b[..n]);
        var reply = await WaitForAsync((k, _) => k.EthType == EtherType.Arp && k.IpProto == ArpPacket.OpReply && k.IpSrc == IpBits.FromIpv4(ip),
            timeout, $"ARP reply for {IpBits.FormatIpv4(ip)}");
        FrameParser.Parse(reply.ToArray(), 0, out _, out var layout);
        ArpPacket.TryParse(reply.AsSpan(layout.L3Offset).ToArray(), out var arp);
        var peer = arp.SenderMac;
        await PingMacAsync(peer, ip, sequence, timeout);
        return peer;
    }

    public async Task PingMacAsync(MacAddress peer, uint ip, ushort sequence, TimeSpan timeout)
    {
        var b = new byte[128];
        int n = PacketBuilder.IcmpEcho(b, peer, Mac, Ip, ip, 0x4242, sequence, "fabric"u8);
        await SendAsync(b[..n]);
        await WaitForAsync((k, f) => k.EthType == EtherType.Ipv4 && k.IpProto == IpProtocol.Icmp && k.L4Src == IcmpMessage.EchoReply
            && k.IpSrc == IpBits.FromIpv4(ip) && IcmpSequence(f) == sequence, timeout, $"echo reply {sequence} from {IpBits.FormatIpv4(ip)}");
    }

    private static ushort IcmpSequence(byte[] frame)
    {
        FrameParser.Parse(frame.ToArray(), 0, out _, out var layout);
        return layout.L4Offset < 0 ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(layout.L4Offset + 6));
    }

    /// <summary>Drops the connection as a restarting QEMU would (the listener stays).</summary>
    public void DropConnection()
    {
        var c = _conn;
        _conn = null;
        c?.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _conn?.Dispose();
        _listener.Dispose();
        try { await _acceptLoop; } catch { }
        try { File.Delete(SocketPath); } catch { }
    }
}
