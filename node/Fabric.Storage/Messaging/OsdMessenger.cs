using System.Net;
using System.Net.Sockets;
using Fabric.Client.Messaging;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Storage.Messaging;

/// <summary>
/// The OSD's TCP endpoint: accepts connections from clients and peer OSDs (the first frame says which,
/// see <see cref="Hello"/>) and dials peers on demand at their map <c>storage_address</c>. Each OSD
/// sends to a peer over the connection it dialled, so messages from one OSD to another stay in order;
/// replies to clients go back on the client's connection. A peer that cannot be reached is not redialled
/// for a short back-off; messages to it meanwhile are dropped (the core retransmits). Connections are received
/// on the OSD's event loop when a <see cref="FramePoller"/> is given (the loop waits in epoll for sockets and
/// posted work alike), else on a receiver thread each.
/// See <see cref="FramedConnection"/> for why this is framed TCP rather than gRPC.
/// </summary>
public sealed class OsdMessenger : IDisposable
{
    private const int RedialBackoffMs = 300;

    private readonly int _osd;
    private readonly ulong _nonce;
    private readonly Socket _listener;
    private readonly object _lock = new();
    private readonly Dictionary<int, FramedConnection> _peers = new();
    private readonly Dictionary<int, long> _dialFailedAtMs = new();
    private readonly Dictionary<long, FramedConnection> _clients = new();
    private readonly Dictionary<long, FramedConnection> _inbound = new();
    private readonly Dictionary<int, string> _addresses = new();
    private readonly CancellationTokenSource _stop = new();

    private readonly FramePoller? _poller;

    /// <summary>With a <paramref name="poller"/>, every connection is received on the poller's owner thread (the
    /// OSD's event loop), and the message callbacks run there; without one, each connection has a receiver thread.</summary>
    public OsdMessenger(int osd, IPEndPoint listen, ulong nonce, FramePoller? poller = null)
    {
        _osd = osd;
        _nonce = nonce;
        _poller = poller;
        _listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(listen);
        _listener.Listen(256);
        LocalEndpoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public IPEndPoint LocalEndpoint { get; }

    /// <summary>A message from a peer OSD (from, type, header, data).</summary>
    public Action<int, StorageMessageType, IMessage, DataBuffer>? OnOsdMessage { get; set; }

    /// <summary>A message from a client connection.</summary>
    public Action<long, StorageMessageType, IMessage, DataBuffer>? OnClientMessage { get; set; }

    public Action<long, string>? OnClientHello { get; set; }

    public Action<long>? OnClientClosed { get; set; }

    /// <summary>A peer OSD that could not be reached or dropped our connection.</summary>
    public Action<int>? OnPeerUnreachable { get; set; }

    public void Start() => _ = AcceptLoopAsync();

    public void UpdateAddresses(ClusterMap map)
    {
        lock (_lock)
        {
            foreach (NodeInfo node in map.Nodes)
            {
                if (_addresses.TryGetValue((int)node.Id, out string? old) && old != node.StorageAddress && _peers.Remove((int)node.Id, out FramedConnection? stale))
                {
                    stale.Close();
                }
                _addresses[(int)node.Id] = node.StorageAddress;
            }
        }
    }

    public void SendToOsd(int osd, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data) => PeerConnection(osd)?.Send(type, header, data);

    /// <summary>Sends with the data by reference (large payloads: no copy).</summary>
    public void SendToOsd(int osd, StorageMessageType type, IMessage header, DataBuffer data) => PeerConnection(osd)?.Send(type, header, data);

    private FramedConnection? PeerConnection(int osd)
    {
        FramedConnection? connection;
        lock (_lock)
        {
            if (!_peers.TryGetValue(osd, out connection) || connection.IsClosed)
            {
                long now = Environment.TickCount64;
                if (_dialFailedAtMs.TryGetValue(osd, out long failed) && now - failed < RedialBackoffMs)
                {
                    return null;
                }
                if (!_addresses.TryGetValue(osd, out string? address) || address.Length == 0)
                {
                    return null;
                }
                connection = FramedConnection.Connect(FramedConnection.ParseEndpoint(address), OnPeerReply, OnPeerClosed, dedicatedReceiver: _poller is null, _poller);
                connection.Tag = osd;
                connection.Send(StorageMessageType.MsgHello, new Hello { Osd = _osd, Identity = $"osd.{_osd}", Nonce = _nonce }, ReadOnlySpan<byte>.Empty);
                _peers[osd] = connection;
            }
        }
        return connection;
    }

    public void SendToClient(long connectionId, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data) => ClientConnection(connectionId)?.Send(type, header, data);

    public void SendToClient(long connectionId, StorageMessageType type, IMessage header, DataBuffer data) => ClientConnection(connectionId)?.Send(type, header, data);

    private FramedConnection? ClientConnection(long connectionId)
    {
        lock (_lock)
        {
            return _clients.GetValueOrDefault(connectionId);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        FramedConnection[] all;
        lock (_lock)
        {
            all = _peers.Values.Concat(_inbound.Values).ToArray();
            _peers.Clear();
            _clients.Clear();
            _inbound.Clear();
        }
        foreach (FramedConnection connection in all)
        {
            connection.Close();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                return;
            }
            FramedConnection connection = FramedConnection.Accept(socket, OnInbound, OnInboundClosed, dedicatedReceiver: _poller is null, _poller);
            lock (_lock)
            {
                if (_stop.IsCancellationRequested)
                {
                    connection.Close();
                    return;
                }
                _inbound[connection.Id] = connection;
            }
        }
    }

    /// <summary>Frames on accepted connections: a Hello first, then messages from that peer or client.</summary>
    private void OnInbound(FramedConnection connection, StorageMessageType type, IMessage header, DataBuffer data)
    {
        if (connection.Tag is null)
        {
            if (type != StorageMessageType.MsgHello)
            {
                connection.Close(); // Protocol violation: say who you are first.
                return;
            }
            var hello = (Hello)header;
            if (hello.Osd >= 0)
            {
                connection.Tag = (int)hello.Osd;
            }
            else
            {
                connection.Tag = connection.Id;
                lock (_lock)
                {
                    _clients[connection.Id] = connection;
                }
                OnClientHello?.Invoke(connection.Id, hello.Identity);
            }
            return;
        }
        if (connection.Tag is int osd)
        {
            OnOsdMessage?.Invoke(osd, type, header, data);
        }
        else
        {
            OnClientMessage?.Invoke(connection.Id, type, header, data);
        }
    }

    private void OnInboundClosed(FramedConnection connection)
    {
        lock (_lock)
        {
            _inbound.Remove(connection.Id);
        }
        if (connection.Tag is long id)
        {
            lock (_lock)
            {
                _clients.Remove(id);
            }
            OnClientClosed?.Invoke(id);
        }
    }

    /// <summary>Peers answer on their own dialled connection; anything arriving on ours is still theirs.</summary>
    private void OnPeerReply(FramedConnection connection, StorageMessageType type, IMessage header, DataBuffer data) =>
        OnOsdMessage?.Invoke((int)connection.Tag!, type, header, data);

    private void OnPeerClosed(FramedConnection connection)
    {
        int osd = (int)connection.Tag!;
        lock (_lock)
        {
            if (_peers.TryGetValue(osd, out FramedConnection? current) && ReferenceEquals(current, connection))
            {
                _peers.Remove(osd);
                _dialFailedAtMs[osd] = Environment.TickCount64;
            }
        }
        if (!_stop.IsCancellationRequested)
        {
            OnPeerUnreachable?.Invoke(osd);
        }
    }
}
