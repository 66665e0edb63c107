namespace Fabric.Switch.Ports;

/// <summary>What a port is for; the flow compiler and the bridge treat each kind differently.</summary>
public enum PortKind : byte
{
    /// <summary>A VM NIC: access port of one network, under port security (own MAC/IP only).</summary>
    Vm,
    /// <summary>A host-side access port of one network (TAP, AF_PACKET on a veth): trusted, learns any MAC.</summary>
    Access,
    /// <summary>An uplink carrying the VLAN networks tagged with 802.1Q.</summary>
    Trunk,
    /// <summary>The VXLAN tunnel endpoint: frames to and from other nodes.</summary>
    Tunnel,
}
