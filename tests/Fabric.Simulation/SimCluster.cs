using Fabric.Proto;
using Fabric.Storage.Osd;

namespace Fabric.Simulation;

/// <summary>Nodes, monitor, clients and network of one simulation run, all driven by one scheduler.</summary>
public sealed class SimCluster
{
    public SimCluster(int seed, int nodes, uint pgCount, OsdOptions options)
    {
        Seed = seed;
        Random = new Random(seed);
        Scheduler = new SimScheduler();
        Network = new SimNetwork(Scheduler, Random);
        OsdOptions = options;
        var map = new ClusterMap { Epoch = 1, ClusterName = "sim", Fsid = "sim", NextNodeId = (uint)nodes + 1, NextPoolId = 2, NextVolumeId = 1, NextSnapId = 1 };
        for (int i = 1; i <= nodes; i++)
        {
            map.Nodes.Add(new NodeInfo
            {
                Id = (uint)i, Name = $"n{i}", FailureDomain = $"host{i}", Weight = 1, State = NodeState.Up, In = true, Incarnation = 1,
                StorageAddress = $"sim:{i}",
            });
        }
        map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = 3, MinReplicas = 2, PgCount = pgCount, FailureDomain = "host" });
        Monitor = new SimMonitor(this, map);
        for (int i = 1; i <= nodes; i++)
        {
            Nodes[i] = new SimNode(this, i, Random);
        }
        Network.Liveness = endpoint =>
        {
            if (endpoint >= 1000 || endpoint == SimNetwork.MonitorEndpoint)
            {
                return (true, 0);
            }
            SimNode node = Nodes[endpoint];
            return (node.Alive, node.Generation);
        };
    }

    public int Seed { get; }

    public Random Random { get; }

    public SimScheduler Scheduler { get; }

    public SimNetwork Network { get; }

    public SimMonitor Monitor { get; }

    public OsdOptions OsdOptions { get; }

    public SortedDictionary<int, SimNode> Nodes { get; } = new();

    public List<SimClient> Clients { get; } = new();

    /// <summary>Where nodes note what happened to them of themselves (a rejoin), beside the injected faults.</summary>
    public Action<string>? Note { get; set; }

    /// <summary>Every log entry a primary creates, with the primary's id (checkers subscribe).</summary>
    public Action<int, PgLogEntry>? EntryCreated { get; set; }

    public SimClient? ClientById(int endpoint) => Clients.FirstOrDefault(c => c.Endpoint == endpoint);

    public SimClient AddClient()
    {
        var client = new SimClient(this, 1000 + Clients.Count);
        Clients.Add(client);
        client.Client.OnMap(Monitor.Current);
        client.StartTicks();
        return client;
    }

    public void Start()
    {
        foreach (SimNode node in Nodes.Values)
        {
            node.Start();
        }
        Monitor.Start();
    }
}
