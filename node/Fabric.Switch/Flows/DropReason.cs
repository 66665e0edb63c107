namespace Fabric.Switch.Flows;

/// <summary>Why the switch dropped a frame; each reason has its own counter per port.</summary>
public enum DropReason : byte
{
    None = 0,
    /// <summary>The frame could not be parsed (the FrameError is counted separately).</summary>
    Malformed,
    /// <summary>A VM port sent from a MAC that is not its own.</summary>
    SpoofedMac,
    /// <summary>A VM port sent from its MAC but an IP (or ARP sender address) that is not its own.</summary>
    SpoofedIp,
    /// <summary>An ACL rule of the network denied the frame.</summary>
    Acl,
    /// <summary>A tagged frame on a trunk for a VLAN no network uses, or an untagged one.</summary>
    UnknownVlan,
    /// <summary>A VXLAN frame with a VNI no network uses.</summary>
    UnknownVni,
    /// <summary>A VXLAN frame from an address that is no node's data address.</summary>
    UnknownVtep,
    /// <summary>The port is attached but not active yet (migration destination before switch-over).</summary>
    PortInactive,
    /// <summary>The port's transmit queue was full (the peer does not read fast enough).</summary>
    TxQueueFull,
    /// <summary>No rule matched (the compiled tables end in catch-all rules, so this means a manual table).</summary>
    NoMatch,
    /// <summary>A rule's action was drop.</summary>
    Rule,
    /// <summary>The destination is the port (or node) the frame came from.</summary>
    Hairpin,
    /// <summary>The frame is larger than the port or network can carry.</summary>
    TooBig,
    /// <summary>Sending failed with an error other than a full queue.</summary>
    TxError,
    /// <summary>The ingress port belongs to no network the switch knows (yet).</summary>
    NoNetwork,
    /// <summary>A frame with offload state (GSO, partial checksum) the software fallback cannot complete.</summary>
    OffloadUnsupported,
    /// <summary>A VM port sent an 802.1Q-tagged frame: a VM NIC is an access port (untagged only), as in OVS.</summary>
    TaggedOnAccess,
}
