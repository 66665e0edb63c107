using Fabric.Switch.Bridging;

namespace Fabric.Switch.Datapath;

/// <summary>A network's state inside the datapath: its spec, its MAC table and its local ports.</summary>
public sealed class SwitchNetwork
{
    internal SwitchNetwork(NetworkSpec spec, FdbGeneration generation)
    {
        Spec = spec;
        Fdb = new MacTable(generation);
    }

    public NetworkSpec Spec { get; internal set; }
    public int Id => Spec.Id;
    public string Name => Spec.Name;
    public MacTable Fdb { get; }
    /// <summary>Local ports that carry this network: its VM/access ports and the trunk for a VLAN network.</summary>
    public List<ushort> Ports { get; } = new();
}
