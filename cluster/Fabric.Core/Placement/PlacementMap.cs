using System.Text;
using Fabric.Core.Checksums;
using Fabric.Proto;

namespace Fabric.Core.Placement;

/// <summary>
/// Placement as a pure function of a <see cref="ClusterMap"/>: object name → PG by crc32c, PG → an
/// ordered set of OSDs (one OSD per node, OSD id = node id) by straw2 over the failure-domain tree.
/// Clients and OSDs holding the same epoch compute the same answer; nothing is looked up.
/// </summary>
/// <remarks>
/// The tree has three levels: racks (the first element of a node's failure-domain path, or one implicit
/// rack), hosts (the last element, or the node's name) and OSDs. Nodes with a positive weight take part; an
/// "out" node is rejected where the chooser lands on it, which makes it retry. For each of the pool's replicas the chooser descends from the root picking a
/// distinct bucket at the pool's failure-domain level (host or rack), then one OSD below it, retrying
/// with a new attempt number on a collision (CRUSH's "choose firstn"). Mappings are computed lazily
/// and cached per PG; the class is safe for concurrent readers.
/// </remarks>
public sealed class PlacementMap
{
    private const int MaxAttempts = 100;

    private readonly Dictionary<uint, PoolInfo> _pools = new();
    private readonly Dictionary<uint, PgMapping?[]> _cache = new();
    private readonly Dictionary<int, NodeInfo> _nodes = new();
    private readonly Bucket _root;

    private PlacementMap(ClusterMap map)
    {
        Map = map;
        foreach (PoolInfo pool in map.Pools)
        {
            _pools[pool.Id] = pool;
            _cache[pool.Id] = new PgMapping?[Math.Max(1, pool.PgCount)];
        }
        _root = new Bucket(0, 0);
        var racks = new Dictionary<string, Bucket>(StringComparer.Ordinal);
        var hosts = new Dictionary<string, Bucket>(StringComparer.Ordinal);
        foreach (NodeInfo node in map.Nodes)
        {
            _nodes[(int)node.Id] = node;
            // An "out" node keeps its weight in the tree and is rejected at the leaf (the chooser retries),
            // as Ceph does for a reweight of 0: only the PGs that had it move.
            if (!(node.Weight > 0))
            {
                continue;
            }
            (string rack, string host) = SplitDomain(node);
            if (!racks.TryGetValue(rack, out Bucket? rackBucket))
            {
                rackBucket = new Bucket(Crc32C.Compute(Encoding.UTF8.GetBytes("rack:" + rack)), 1);
                racks[rack] = rackBucket;
                _root.Children.Add(rackBucket);
            }
            string hostKey = rack + "/" + host;
            if (!hosts.TryGetValue(hostKey, out Bucket? hostBucket))
            {
                hostBucket = new Bucket(Crc32C.Compute(Encoding.UTF8.GetBytes("host:" + hostKey)), 2);
                hosts[hostKey] = hostBucket;
                rackBucket.Children.Add(hostBucket);
            }
            hostBucket.Children.Add(new Bucket(node.Id, 3) { Weight = node.Weight, Osd = (int)node.Id });
        }
        _root.ComputeWeight();
    }

    public ClusterMap Map { get; }

    public ulong Epoch => Map.Epoch;

    public static PlacementMap Build(ClusterMap map) => new(map);

    public PoolInfo? FindPool(uint poolId) => _pools.GetValueOrDefault(poolId);

    public PoolInfo? FindPool(string name)
    {
        foreach (PoolInfo pool in _pools.Values)
        {
            if (pool.Name == name)
            {
                return pool;
            }
        }
        return null;
    }

    public IEnumerable<PoolInfo> Pools => _pools.Values;

    public NodeInfo? FindNode(int osd) => _nodes.GetValueOrDefault(osd);

    public bool IsIn(int osd) => _nodes.TryGetValue(osd, out NodeInfo? n) && n.In;

    public bool IsUp(int osd) => _nodes.TryGetValue(osd, out NodeInfo? n) && n.State == NodeState.Up;

    /// <summary>The PG of an object: crc32c of its name modulo the pool's PG count.</summary>
    public static PgId ObjectToPg(PoolInfo pool, ReadOnlySpan<byte> objectName)
    {
        uint count = Math.Max(1, pool.PgCount);
        return new PgId(pool.Id, Crc32C.Compute(objectName) % count);
    }

    public static PgId ObjectToPg(PoolInfo pool, string objectName)
    {
        Span<byte> buffer = stackalloc byte[512];
        int n = Encoding.UTF8.GetByteCount(objectName);
        if (n > buffer.Length)
        {
            return ObjectToPg(pool, Encoding.UTF8.GetBytes(objectName));
        }
        Encoding.UTF8.GetBytes(objectName, buffer);
        return ObjectToPg(pool, buffer[..n]);
    }

    /// <summary>The mapping of a PG in this map; null when the pool does not exist or the seed is out of range.</summary>
    public PgMapping? Get(PgId pg)
    {
        if (!_pools.TryGetValue(pg.Pool, out PoolInfo? pool) || pg.Seed >= Math.Max(1, pool.PgCount))
        {
            return null;
        }
        PgMapping?[] cache = _cache[pg.Pool];
        PgMapping? mapping = Volatile.Read(ref cache[pg.Seed]);
        if (mapping is null)
        {
            mapping = Compute(pool, pg);
            Volatile.Write(ref cache[pg.Seed], mapping);
        }
        return mapping;
    }

    /// <summary>Raw placement (straw2 over the "in" nodes), written into <paramref name="osds"/>; returns the count.</summary>
    public int Place(PgId pg, uint replicas, string failureDomain, Span<int> osds)
    {
        int level = failureDomain == "rack" ? 1 : failureDomain == "osd" ? 3 : 2;
        ulong input = ((ulong)pg.Pool << 32 | pg.Seed) ^ 0x5bd1e995UL;
        Span<uint> domains = stackalloc uint[Math.Max(1, (int)replicas)];
        int count = 0;
        for (uint rep = 0; rep < replicas; rep++)
        {
            for (uint attempt = 0; attempt < MaxAttempts; attempt++)
            {
                uint r = rep + attempt * replicas;
                Bucket? domain = Descend(_root, input, r, level);
                if (domain is null)
                {
                    break;
                }
                if (domains[..count].Contains(domain.Id))
                {
                    continue;
                }
                Bucket? leaf = Descend(domain, input, r, 3);
                if (leaf is null || !IsIn(leaf.Osd))
                {
                    continue;
                }
                domains[count] = domain.Id;
                osds[count++] = leaf.Osd;
                break;
            }
        }
        return count;
    }

    private PgMapping Compute(PoolInfo pool, PgId pg)
    {
        int replicas = (int)Math.Max(1, pool.Replicas);
        Span<int> buffer = stackalloc int[replicas];
        int n = Place(pg, (uint)replicas, pool.FailureDomain, buffer);
        int[] placement = buffer[..n].ToArray();
        int up = 0;
        foreach (int osd in placement)
        {
            if (IsUp(osd))
            {
                up++;
            }
        }
        int[] acting = new int[up];
        int k = 0;
        foreach (int osd in placement)
        {
            if (IsUp(osd))
            {
                acting[k++] = osd;
            }
        }
        uint min = pool.MinReplicas == 0 ? 1 : Math.Min(pool.MinReplicas, (uint)replicas);
        return new PgMapping(pg, placement, acting, (uint)replicas, min);
    }

    private static Bucket? Descend(Bucket from, ulong input, uint r, int level)
    {
        Bucket current = from;
        while (current.Level < level)
        {
            Bucket? best = null;
            double bestDraw = double.NegativeInfinity;
            ulong bestHash = 0;
            Bucket[] children = current.ChildArray;
            for (int i = 0; i < children.Length; i++)
            {
                Bucket child = children[i];
                if (!(child.Weight > 0))
                {
                    continue;
                }
                ulong h = Straw2.Hash(input, child.Id, r);
                double draw = Straw2.Draw(h, child.Weight);
                if (best is null || draw > bestDraw || (draw == bestDraw && h > bestHash))
                {
                    best = child;
                    bestDraw = draw;
                    bestHash = h;
                }
            }
            if (best is null)
            {
                return null;
            }
            current = best;
        }
        return current;
    }

    private static (string Rack, string Host) SplitDomain(NodeInfo node)
    {
        string path = node.FailureDomain ?? "";
        string[] parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            return ("default", string.IsNullOrEmpty(node.Name) ? "node" + node.Id : node.Name);
        }
        if (parts.Length == 1)
        {
            return ("default", parts[0]);
        }
        return (parts[0], parts[^1]);
    }

    private sealed class Bucket(uint id, int level)
    {
        public uint Id { get; } = id;

        public int Level { get; } = level;

        public double Weight { get; set; }

        public int Osd { get; init; } = -1;

        public List<Bucket> Children { get; } = new();

        public Bucket[] ChildArray { get; private set; } = Array.Empty<Bucket>();

        public double ComputeWeight()
        {
            ChildArray = Children.ToArray();
            if (Level == 3)
            {
                return Weight;
            }
            double sum = 0;
            foreach (Bucket child in Children)
            {
                sum += child.ComputeWeight();
            }
            Weight = sum;
            return sum;
        }
    }
}
