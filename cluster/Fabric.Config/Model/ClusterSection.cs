namespace Fabric.Config.Model;

/// <summary>The <c>[cluster]</c> table.</summary>
public sealed record ClusterSection
{
    public static readonly TimeSpan DefaultHeartbeatInterval = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan DefaultHeartbeatGrace = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan DefaultDownOutInterval = TimeSpan.FromSeconds(60);

    public required string Name { get; init; }

    /// <summary>Names of the nodes that run a monitor. Default: the first node.</summary>
    public required IReadOnlyList<string> Monitors { get; init; }

    public TimeSpan HeartbeatInterval { get; init; } = DefaultHeartbeatInterval;

    /// <summary>A node silent this long is marked down.</summary>
    public TimeSpan HeartbeatGrace { get; init; } = DefaultHeartbeatGrace;

    /// <summary>A down node is marked out (its data re-placed) after this long.</summary>
    public TimeSpan DownOutInterval { get; init; } = DefaultDownOutInterval;

    /// <summary>Set when the monitors keep the map in etcd (<c>[cluster.etcd]</c>); null: embedded RocksDB store.</summary>
    public EtcdConfig? Etcd { get; init; }

    public ConfigSource Source { get; init; } = ConfigSource.None;
}
