using Fabric.Proto;

namespace Fabric.Bench.Membership;

/// <summary>
/// The map change the propagation benches propose: create a pool, then delete it, and so on. Each is one
/// small transaction that always applies (no data is placed, so the delete never waits on volumes) and
/// changes the map's content, not only its epoch.
/// </summary>
public static class PoolFlip
{
    public const string PoolName = "bench-flip";

    /// <summary>The transaction for change number <paramref name="index"/> (even: create, odd: delete).</summary>
    public static MapTransaction Change(int index)
    {
        var tx = new MapTransaction { Reason = $"membership bench change {index}" };
        tx.Changes.Add(index % 2 == 0
            ? new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = PoolName, Replicas = 3, MinReplicas = 2, PgCount = 64 } } }
            : new MapChange { PoolDelete = new PoolDelete { Name = PoolName } });
        return tx;
    }

    /// <summary>The index to start from so that the first change applies to <paramref name="map"/>.</summary>
    public static int FirstIndexFor(ClusterMap map) => map.Pools.Any(p => p.Name == PoolName) ? 1 : 0;
}
