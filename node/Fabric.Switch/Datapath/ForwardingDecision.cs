using Fabric.Switch.Flows;
using Fabric.Switch.Ports;

namespace Fabric.Switch.Datapath;

public enum IngressRewrite : byte
{
    None,
    PopVlan,
    Decap,
}

/// <summary>
/// What the pipeline decided for one flow key: computed by walking the tables once (the slow path),
/// cached by key, and executed for every later frame with that key until the flow table or the MAC
/// tables change.
/// </summary>
public sealed class ForwardingDecision
{
    public int Network = -1;
    public IngressRewrite Rewrite;
    public OutputOp[] Outputs = [];
    /// <summary>Why nothing was sent, when nothing was (None: nowhere to go, e.g. a flood with no other port).</summary>
    public DropReason Drop;
    /// <summary>Answer the ARP request with this MAC (0 = no answer), sent back with <see cref="ArpReplyOp"/>.</summary>
    public ulong ArpReplyMac;
    public OutputOp ArpReplyOp;
    /// <summary>VM ports the egress ACL kept the frame from.</summary>
    public ushort[] AclDenied = [];
    /// <summary>Learn the source MAC at the ingress port (false when port security dropped the frame).</summary>
    public bool Learn;
    public long FlowVersion;
    public long FdbGeneration;
}
