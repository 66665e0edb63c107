namespace Fabric.Config.Model;

public enum NetworkKind
{
    /// <summary>"vlan": 802.1Q-tagged frames on each node's uplink.</summary>
    Vlan,

    /// <summary>"vxlan": an overlay carried in UDP between the nodes' data addresses.</summary>
    Vxlan,
}
