namespace Fabric.Config.Model;

/// <summary>The <c>[cluster.etcd]</c> table: where HA monitors keep the map.</summary>
public sealed record EtcdConfig
{
    /// <summary>Client URLs, "http://127.0.0.1:2379".</summary>
    public required IReadOnlyList<Uri> Endpoints { get; init; }

    /// <summary>Key prefix for everything Fabric stores; default "/fabric/&lt;cluster name&gt;".</summary>
    public required string Prefix { get; init; }

    public ConfigSource Source { get; init; } = ConfigSource.None;
}
