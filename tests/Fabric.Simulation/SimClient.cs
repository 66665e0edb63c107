using Fabric.Client.Objects;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Simulation;

/// <summary>A real <see cref="ObjectClient"/> on the simulated network.</summary>
public sealed class SimClient : IClientTransport
{
    private readonly SimCluster _cluster;

    public SimClient(SimCluster cluster, int endpoint)
    {
        _cluster = cluster;
        Endpoint = endpoint;
        Client = new ObjectClient($"client.sim.{endpoint}", this, resendTimeoutMs: 2000);
    }

    public int Endpoint { get; }

    public ObjectClient Client { get; }

    public long NowMs => _cluster.Scheduler.NowMs;

    public void Send(int osd, NodeInfo node, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
    {
        SimNode target = _cluster.Nodes[osd];
        int endpoint = Endpoint;
        string identity = Client.Identity;
        _cluster.Network.Send(Endpoint, osd, type, header, data, (t, h, d) =>
        {
            OsdCoreHello(target, endpoint, identity);
            target.Core?.OnClientMessage(endpoint, t, h, d);
        });
    }

    public void StartTicks()
    {
        _cluster.Scheduler.After(100_000, () =>
        {
            Client.Tick();
            StartTicks();
        });
    }

    private static void OsdCoreHello(SimNode node, int endpoint, string identity) => node.Core?.OnClientHello(endpoint, identity);
}
