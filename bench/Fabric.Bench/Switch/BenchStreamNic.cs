// A VM NIC played on QEMU's `-netdev stream,server=on` protocol (unix socket, 4-byte big-endian length +
// Ethernet frame), for the MAC-move measurement of `switch-nodes`: it answers ARP and ICMP echo for its
// address like a guest and reports echo replies it receives.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using Fabric.Switch.Packets;

namespace Fabric.Bench.Switch;

public sealed class BenchStreamNic : IDisposable
{
    private readonly Socket _listener;
    private readonly Thread _reader;
    private readonly object _sendLock = new();
    private readonly ManualResetEventSlim _connected = new();
    private Socket? _connection;
    private volatile bool _stopping;
    private long _lastReplyTimestamp;
    private int _lastReplySequence = -1;

    public BenchStreamNic(string socketPath, MacAddress mac, uint ip)
    {
        SocketPath = socketPath;
        Mac = mac;
        Ip = ip;
        if (File.Exists(socketPath)) File.Delete(socketPath);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(1);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "nic " + socketPath };
        _reader.Start();
    }

    public string SocketPath { get; }
    public MacAddress Mac { get; }
    public uint Ip { get; }

    public bool WaitConnected(TimeSpan timeout) => _connected.Wait(timeout);

    /// <summary>The sequence number of the last echo reply received, and when (Stopwatch ticks).</summary>
    public (int Sequence, long Timestamp) LastReply => (Volatile.Read(ref _lastReplySequence), Volatile.Read(ref _lastReplyTimestamp));

    private void ReadLoop()
    {
        try
        {
            var socket = _listener.Accept();
            _connection = socket;
            _connected.Set();
            var header = new byte[4];
            var frame = new byte[65536];
            while (!_stopping)
            {
                if (!ReadExactly(socket, header, 4)) return;
                int length = (int)BinaryPrimitives.ReadUInt32BigEndian(header);
                if (length <= 0 || length > frame.Length || !ReadExactly(socket, frame, length)) return;
                OnFrame(frame.AsSpan(0, length));
            }
        }
        catch (Exception) when (_stopping)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static bool ReadExactly(Socket socket, byte[] buffer, int count)
    {
        int got = 0;
        while (got < count)
        {
            int n = socket.Receive(buffer, got, count - got, SocketFlags.None);
            if (n == 0) return false;
            got += n;
        }
        return true;
    }

    private void OnFrame(Span<byte> frame)
    {
        if (FrameParser.Parse(frame, 0, out var k, out var layout) != FrameError.None) return;
        var reply = new byte[frame.Length + 64];
        if (k.EthType == EtherType.Arp && k.IpProto == ArpPacket.OpRequest && k.IpDst == IpBits.FromIpv4(Ip) && k.IpSrc != k.IpDst)
        {
            Send(reply.AsSpan(0, PacketBuilder.ArpReply(reply, Mac, Ip, k.Source, IpBits.ToIpv4(k.IpSrc))));
        }
        else if (k.EthType == EtherType.Ipv4 && k.IpProto == IpProtocol.Icmp && k.IpDst == IpBits.FromIpv4(Ip) && layout.L4Offset > 0)
        {
            ushort sequence = BinaryPrimitives.ReadUInt16BigEndian(frame[(layout.L4Offset + 6)..]);
            if (k.L4Src == IcmpMessage.EchoRequest)
            {
                ushort id = BinaryPrimitives.ReadUInt16BigEndian(frame[(layout.L4Offset + 4)..]);
                var body = frame[(layout.L4Offset + 8)..].ToArray();
                Send(reply.AsSpan(0, PacketBuilder.IcmpEcho(reply, k.Source, Mac, Ip, IpBits.ToIpv4(k.IpSrc), id, sequence, body, reply: true)));
            }
            else if (k.L4Src == IcmpMessage.EchoReply)
            {
                // The time first, then the sequence that makes a reader look at it.
                Volatile.Write(ref _lastReplyTimestamp, Stopwatch.GetTimestamp());
                Volatile.Write(ref _lastReplySequence, sequence);
            }
        }
    }

    public void Send(ReadOnlySpan<byte> frame)
    {
        var socket = _connection ?? throw new InvalidOperationException($"the switch has not connected to {SocketPath}");
        var buffer = new byte[4 + frame.Length];
        BinaryPrimitives.WriteUInt32BigEndian(buffer, (uint)frame.Length);
        frame.CopyTo(buffer.AsSpan(4));
        lock (_sendLock) socket.Send(buffer);
    }

    public void SendEcho(MacAddress mac, uint ip, ushort sequence)
    {
        var b = new byte[128];
        Send(b.AsSpan(0, PacketBuilder.IcmpEcho(b, mac, Mac, Ip, ip, 0x4242, sequence, "bench"u8)));
    }

    public void Announce()
    {
        var b = new byte[64];
        Send(b.AsSpan(0, PacketBuilder.RarpAnnounce(b, Mac)));
    }

    public void Dispose()
    {
        _stopping = true;
        _connection?.Dispose();
        _listener.Dispose();
        _reader.Join(TimeSpan.FromSeconds(2));
        try { File.Delete(SocketPath); } catch (IOException) { }
    }
}
