namespace Fabric.Config.Model;

/// <summary>
/// A whole cluster config file (see cluster.example.toml): the cluster settings and the nodes, pools,
/// volumes, networks and VMs it declares, in file order. Immutable; a loaded instance has passed
/// validation (only warnings may remain).
/// </summary>
public sealed record ClusterConfig
{
    /// <summary>The file the config was read from (as given to the loader).</summary>
    public required string FileName { get; init; }

    public required ClusterSection Cluster { get; init; }

    public IReadOnlyList<NodeConfig> Nodes { get; init; } = [];

    public IReadOnlyList<PoolConfig> Pools { get; init; } = [];

    public IReadOnlyList<VolumeConfig> Volumes { get; init; } = [];

    public IReadOnlyList<NetworkConfig> Networks { get; init; } = [];

    public IReadOnlyList<VmConfig> Vms { get; init; } = [];

    public NodeConfig? FindNode(string name) => Nodes.FirstOrDefault(node => node.Name == name);

    public PoolConfig? FindPool(string name) => Pools.FirstOrDefault(pool => pool.Name == name);

    public VolumeConfig? FindVolume(string name) => Volumes.FirstOrDefault(volume => volume.Name == name);

    public NetworkConfig? FindNetwork(string name) => Networks.FirstOrDefault(network => network.Name == name);

    public VmConfig? FindVm(string name) => Vms.FirstOrDefault(vm => vm.Name == name);
}
