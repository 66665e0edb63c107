using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Client.Objects;

/// <summary>
/// How an <see cref="ObjectClient"/> reaches OSDs: TCP on a node , a
/// simulated network in the simulation. Replies come back through <see cref="ObjectClient.OnMessage"/>.
/// </summary>
public interface IClientTransport
{
    long NowMs { get; }

    /// <summary>Sends to an OSD (connecting first if needed); may be lost, the client resends.</summary>
    void Send(int osd, NodeInfo node, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data);
}
