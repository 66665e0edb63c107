using System.Security.Cryptography;
using Fabric.Client.Messaging;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Client.Objects;

/// <summary>
/// The client's TCP side: one connection per OSD (to the node's storage_address), opened on first use
/// with a Hello carrying the client identity, replaced after it drops.
/// </summary>
public sealed class TcpClientTransport : IClientTransport, IDisposable
{
    private readonly object _lock = new();
    private readonly Dictionary<int, FramedConnection> _connections = new();
    private readonly string _identity;
    private readonly ulong _nonce = (ulong)RandomNumberGenerator.GetInt32(int.MaxValue) << 16;
    private readonly TimeProvider _time;
    private ObjectClient? _client;

    public TcpClientTransport(string identity, TimeProvider? time = null)
    {
        _identity = identity;
        _time = time ?? TimeProvider.System;
    }

    public long NowMs => (long)_time.GetElapsedTime(0, _time.GetTimestamp()).TotalMilliseconds;

    public void Attach(ObjectClient client) => _client = client;

    public void Send(int osd, NodeInfo node, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
    {
        FramedConnection connection;
        lock (_lock)
        {
            if (!_connections.TryGetValue(osd, out connection!) || connection.IsClosed)
            {
                connection = FramedConnection.Connect(FramedConnection.ParseEndpoint(node.StorageAddress), OnMessage, OnClosed, sink: ClaimData);
                connection.Tag = osd;
                connection.Send(StorageMessageType.MsgHello, new Hello { Osd = -1, Identity = _identity, Nonce = _nonce }, ReadOnlySpan<byte>.Empty);
                _connections[osd] = connection;
            }
        }
        connection.Send(type, header, data);
    }

    public void Dispose()
    {
        FramedConnection[] all;
        lock (_lock)
        {
            all = _connections.Values.ToArray();
            _connections.Clear();
        }
        foreach (FramedConnection connection in all)
        {
            connection.Close();
        }
    }

    private void OnMessage(FramedConnection connection, StorageMessageType type, IMessage header, DataBuffer data) =>
        _client?.OnMessage((int)connection.Tag!, type, header, data);

    /// <summary>Read data goes straight into the caller's buffer (a 4 MiB read's reply is not copied again).</summary>
    private IPayloadTarget? ClaimData(FramedConnection connection, StorageMessageType type, IMessage header, int dataLength) =>
        type == StorageMessageType.MsgClientOpReply && _client is { } client ? client.ClaimReadData((ClientOpReply)header, dataLength) : null;

    private void OnClosed(FramedConnection connection)
    {
        int osd = (int)connection.Tag!;
        lock (_lock)
        {
            if (_connections.TryGetValue(osd, out FramedConnection? current) && ReferenceEquals(current, connection))
            {
                _connections.Remove(osd);
            }
        }
        _client?.OnConnectionLost(osd);
    }
}
