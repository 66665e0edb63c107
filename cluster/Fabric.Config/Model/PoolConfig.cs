namespace Fabric.Config.Model;

/// <summary>One <c>[[pool]]</c>: a replication policy that volumes live in.</summary>
public sealed record PoolConfig
{
    public const int DefaultReplicas = 3;
    public const int DefaultPgCount = 64;

    public required string Name { get; init; }

    public int Replicas { get; init; } = DefaultReplicas;

    /// <summary>Replicas that must be reachable for I/O to proceed. Default as Ceph's min_size: replicas - replicas / 2 (3 → 2).</summary>
    public int MinReplicas { get; init; } = DefaultMinReplicas(DefaultReplicas);

    /// <summary>Placement groups; a power of two so that splitting is stable.</summary>
    public int PgCount { get; init; } = DefaultPgCount;

    public PoolFailureDomain FailureDomain { get; init; } = PoolFailureDomain.Host;

    public ConfigSource Source { get; init; } = ConfigSource.None;

    public static int DefaultMinReplicas(int replicas) => replicas - (replicas / 2);
}
