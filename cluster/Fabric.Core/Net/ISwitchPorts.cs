namespace Fabric.Core.Net;

/// <summary>
/// The node's virtual switch as the hypervisor sees it: VM NICs are attached as ports. The node wires
/// the hypervisor to the switch through this interface; neither references the other.
/// </summary>
public interface ISwitchPorts
{
    /// <summary>
    /// Attaches a VM NIC whose QEMU listens on a unix stream socket (`-netdev stream,server=on`). The
    /// switch connects, and reconnects if QEMU restarts the listener. An inactive port is created but
    /// neither forwards nor claims its MAC (a migration destination before switch-over).
    /// </summary>
    ValueTask<PortAttachResult> AttachStreamPortAsync(VmPortSpec spec, string socketPath, bool active, CancellationToken cancellationToken);

    /// <summary>Makes an inactive port forward, and claims its MAC on this node.</summary>
    ValueTask ActivatePortAsync(string portName, CancellationToken cancellationToken);

    ValueTask DetachPortAsync(string portName, CancellationToken cancellationToken);
}

/// <param name="PortName">Unique on the node, e.g. "vm1-0".</param>
/// <param name="Network">Network name from the cluster map.</param>
/// <param name="Mac">"52:54:00:12:34:56".</param>
/// <param name="IpCidr">"10.10.0.11/24", or "" when the port has no fixed address.</param>
public sealed record VmPortSpec(string PortName, string Network, string Mac, string IpCidr);

public readonly record struct PortAttachResult(bool Ok, string? Error);
