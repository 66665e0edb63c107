// The action half of a flow rule. A rule's actions run in order; GotoTable must be last.
namespace Fabric.Switch.Flows;

public enum FlowActionKind : byte
{
    /// <summary>Send to a port (Arg = port number), with the encapsulation the port needs for the network.</summary>
    Output,
    /// <summary>Send to every port of the network but the ingress one (and to the network's remote nodes).</summary>
    Flood,
    Drop,
    /// <summary>Tag the frame with VLAN Arg on the following outputs.</summary>
    PushVlan,
    /// <summary>Remove the frame's 802.1Q tag (ingress from a trunk).</summary>
    PopVlan,
    /// <summary>Wrap the frame in VXLAN with VNI Arg towards node Arg2 on the following tunnel output.</summary>
    Encap,
    /// <summary>Remove the VXLAN header (ingress from the tunnel).</summary>
    Decap,
    /// <summary>Classify the frame into network Arg.</summary>
    SetNetwork,
    GotoTable,
    /// <summary>The MAC-learning bridge of the network decides: known destination, or flood.</summary>
    Normal,
    /// <summary>Answer an ARP request locally with MAC Arg2 (the switch knows every VM's IP from the map).</summary>
    ArpReply,
}

public readonly record struct FlowAction(FlowActionKind Kind, int Arg = 0, ulong Arg2 = 0, DropReason Reason = DropReason.None)
{
    public static FlowAction Output(int port) => new(FlowActionKind.Output, port);
    public static readonly FlowAction Flood = new(FlowActionKind.Flood);
    public static FlowAction Drop(DropReason reason) => new(FlowActionKind.Drop, Reason: reason);
    public static FlowAction PushVlan(ushort vlan) => new(FlowActionKind.PushVlan, vlan);
    public static readonly FlowAction PopVlan = new(FlowActionKind.PopVlan);
    public static FlowAction Encap(uint vni, uint node) => new(FlowActionKind.Encap, (int)vni, node);
    public static readonly FlowAction Decap = new(FlowActionKind.Decap);
    public static FlowAction SetNetwork(int network) => new(FlowActionKind.SetNetwork, network);
    public static FlowAction GotoTable(int table) => new(FlowActionKind.GotoTable, table);
    public static readonly FlowAction Normal = new(FlowActionKind.Normal);
    public static FlowAction ArpReply(Packets.MacAddress mac) => new(FlowActionKind.ArpReply, 0, mac.Value);

    public string Format(Func<int, string>? portName = null, Func<int, string>? networkName = null) => Kind switch
    {
        FlowActionKind.Output => $"output:{portName?.Invoke(Arg) ?? Arg.ToString()}",
        FlowActionKind.Flood => "flood",
        FlowActionKind.Drop => $"drop({Reason.ToString().ToLowerInvariant()})",
        FlowActionKind.PushVlan => $"push_vlan:{Arg}",
        FlowActionKind.PopVlan => "pop_vlan",
        FlowActionKind.Encap => $"encap(vxlan,vni={(uint)Arg},node={Arg2})",
        FlowActionKind.Decap => "decap(vxlan)",
        FlowActionKind.SetNetwork => $"set_network:{networkName?.Invoke(Arg) ?? Arg.ToString()}",
        FlowActionKind.GotoTable => $"goto_table:{Arg}",
        FlowActionKind.Normal => "normal",
        FlowActionKind.ArpReply => $"arp_reply:{new Packets.MacAddress(Arg2)}",
        _ => Kind.ToString(),
    };

    public override string ToString() => Format();
}
