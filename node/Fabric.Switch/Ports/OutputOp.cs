namespace Fabric.Switch.Ports;

public enum OutputEncap : byte
{
    None,
    /// <summary>Insert an 802.1Q tag with <see cref="OutputOp.Vlan"/>.</summary>
    Vlan,
    /// <summary>Wrap in VXLAN with <see cref="OutputOp.Vni"/> towards node <see cref="OutputOp.Node"/>.</summary>
    Vxlan,
}

/// <summary>One resolved output of a forwarding decision: the port and how to encapsulate for it.</summary>
public readonly record struct OutputOp(ushort Port, OutputEncap Encap, ushort Vlan = 0, uint Vni = 0, uint Node = 0);
