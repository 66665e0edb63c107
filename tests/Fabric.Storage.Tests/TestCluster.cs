using System.Net;
using Fabric.Client.Objects;
using Fabric.Core.Map;
using Fabric.Client.Volumes;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;

namespace Fabric.Storage.Tests;

/// <summary>
/// Real OSD hosts in this process on 127.0.0.x over real TCP, with memory stores and a hand-driven map
/// (the test plays the monitor): stop/restart OSDs, mark them down/up, wait for active+clean.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly Dictionary<int, OsdHost> _hosts = new();
    private readonly Dictionary<int, int> _ports = new();
    private readonly OsdOptions _options;
    private ClusterMap _map;

    public TestCluster(int nodes, OsdOptions? options = null, uint pgCount = 16, Func<int, MemoryObjectStore>? storeFactory = null)
    {
        _options = options ?? new OsdOptions { RetransmitMs = 300, WriteRetransmitMs = 1500 };
        _map = new ClusterMap { Epoch = 1, ClusterName = "test", Fsid = "test", NextNodeId = (uint)nodes + 1, NextPoolId = 2, NextVolumeId = 1, NextSnapId = 1 };
        for (int i = 1; i <= nodes; i++)
        {
            Stores[i] = storeFactory?.Invoke(i) ?? new MemoryObjectStore(autoSync: true);
            _map.Nodes.Add(new NodeInfo { Id = (uint)i, Name = $"n{i}", FailureDomain = $"host{i}", Weight = 1, State = NodeState.Up, In = true, Incarnation = 1 });
        }
        _map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = 3, MinReplicas = 2, PgCount = pgCount, FailureDomain = "host" });
        Maps = new StaticMapSource(_map);
    }

    public Dictionary<int, MemoryObjectStore> Stores { get; } = new();

    public StaticMapSource Maps { get; }

    public ClusterMap Map => _map;

    public IReadOnlyDictionary<int, OsdHost> Hosts => _hosts;

    public async Task StartAsync()
    {
        foreach (NodeInfo node in _map.Nodes)
        {
            await StartOsdAsync((int)node.Id, publish: false);
        }
        Publish(map => { });
    }

    public async Task StartOsdAsync(int id, bool publish = true)
    {
        var host = new OsdHost(id, Stores[id], new IPEndPoint(IPAddress.Parse($"127.0.0.{id}"), _ports.GetValueOrDefault(id)), _options);
        await host.StartAsync();
        _ports[id] = host.LocalEndpoint.Port;
        _hosts[id] = host;
        if (publish)
        {
            Publish(map =>
            {
                NodeInfo n = map.Nodes.First(x => x.Id == (uint)id);
                n.State = NodeState.Up;
                n.Incarnation++;
                n.UpSinceEpoch = map.Epoch;
                n.In = true;
            });
        }
        else
        {
            host.OnMap(_map);
        }
    }

    /// <summary>Stops an OSD process (kill: the store keeps what was durable) and marks it down.</summary>
    public async Task StopOsdAsync(int id, bool markDown = true)
    {
        if (_hosts.Remove(id, out OsdHost? host))
        {
            await host.DisposeAsync();
        }
        if (markDown)
        {
            Publish(map => map.Nodes.First(x => x.Id == (uint)id).State = NodeState.Down);
        }
    }

    public void Publish(Action<ClusterMap> change)
    {
        lock (_publishLock)
        {
            ClusterMap next = _map.Clone();
            next.Epoch = _map.Epoch + 1;
            foreach (NodeInfo node in next.Nodes)
            {
                node.StorageAddress = _ports.TryGetValue((int)node.Id, out int port) ? $"127.0.0.{node.Id}:{port}" : "";
            }
            change(next);
            _map = next;
            foreach (OsdHost host in _hosts.Values)
            {
                host.OnMap(next);
            }
            Maps.Publish(next);
        }
    }

    private readonly object _publishLock = new();

    /// <summary>The monitor's part: validates a transaction as the real monitor does (MapTransactions) and publishes the result.</summary>
    public Task<ulong> ProposeAsync(MapTransaction transaction, CancellationToken cancellationToken = default)
    {
        lock (_publishLock)
        {
            MapApplyResult result = MapTransactions.Apply(_map, transaction, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            if (result.Map is null)
            {
                throw new InvalidOperationException(result.Error!.Message);
            }
            Publish(map =>
            {
                ClusterMap applied = result.Map.Clone();
                applied.Epoch = map.Epoch;
                foreach (NodeInfo node in applied.Nodes)
                {
                    node.StorageAddress = map.Nodes.First(n => n.Id == node.Id).StorageAddress;
                }
                map.Volumes.Clear();
                map.Volumes.AddRange(applied.Volumes);
                map.Blocklist.Clear();
                map.Blocklist.AddRange(applied.Blocklist);
                map.NextVolumeId = applied.NextVolumeId;
                map.NextSnapId = applied.NextSnapId;
            });
            return Task.FromResult(_map.Epoch);
        }
    }

    public Task<ulong> ApplyAsync(params MapChange[] changes)
    {
        var transaction = new MapTransaction();
        transaction.Changes.AddRange(changes);
        return ProposeAsync(transaction);
    }

    public VolumeInfo CreateVolume(string name, long sizeBytes, uint objectSize = 4 << 20, ParentRef? parent = null)
    {
        var volume = new VolumeInfo { Name = name, PoolId = 1, SizeBytes = (ulong)sizeBytes, ObjectSizeBytes = objectSize, Parent = parent };
        ApplyAsync(new MapChange { VolumeCreate = new VolumeCreate { Volume = volume } }).GetAwaiter().GetResult();
        return _map.FindVolume(name)!;
    }

    public ClusterClient NewClient(string identity = "client.test") => new(Maps, identity, resendTimeoutMs: 2000);

    /// <summary>Waits until every running OSD has the newest map and all PGs are active+clean.</summary>
    public async Task WaitForCleanAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            if (await IsCleanAsync())
            {
                return;
            }
            try
            {
                await Task.Delay(50, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"PGs not active+clean within {timeout}: {await DescribeAsync()}");
            }
        }
    }

    public async Task<bool> IsCleanAsync()
    {
        int clean = 0;
        foreach (OsdHost host in _hosts.Values)
        {
            ListPgsReply reply = await host.ListPgsAsync(new ListPgsRequest { PrimaryOnly = true });
            if (reply.MapEpoch != _map.Epoch)
            {
                return false;
            }
            foreach (PgStatus pg in reply.Pgs)
            {
                if (pg.State != "active+clean")
                {
                    return false;
                }
                clean++;
            }
        }
        return clean == _map.Pools[0].PgCount;
    }

    public async Task<string> DescribeAsync()
    {
        var lines = new List<string>();
        foreach ((int id, OsdHost host) in _hosts)
        {
            ListPgsReply reply = await host.ListPgsAsync(new ListPgsRequest { PrimaryOnly = true });
            lines.Add($"osd.{id} epoch {reply.MapEpoch}: " + string.Join(", ", reply.Pgs.Select(p => $"{p.Pg}={p.State} ({p.Reason})")));
        }
        return string.Join("\n", lines);
    }

    /// <summary>Object name → (version, size) of one PG on one OSD's store.</summary>
    public SortedDictionary<string, ObjectMeta> Objects(int osd)
    {
        var result = new SortedDictionary<string, ObjectMeta>(StringComparer.Ordinal);
        Stores[osd].Scan([StoreKeys.ObjectKind], (key, value) =>
        {
            result[StoreKeys.PgOf(key).ToString("x") + "/" + StoreKeys.NameOf(key)] = new ObjectMeta(BitConverter.ToUInt64(value), BitConverter.ToUInt64(value[8..]));
            return true;
        });
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (OsdHost host in _hosts.Values)
        {
            await host.DisposeAsync();
        }
        _hosts.Clear();
    }
}
