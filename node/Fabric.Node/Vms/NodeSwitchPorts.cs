using Fabric.Core.Net;

namespace Fabric.Node.Vms;

/// <summary>
/// The hypervisor's view of the node's virtual switch, looked up at each call (the switch part may start
/// after the hypervisor part, or fail): with no switch, attaching a NIC is refused with the reason, so a VM
/// with NICs does not start half-connected.
/// </summary>
public sealed class NodeSwitchPorts(Func<ISwitchPorts?> current) : ISwitchPorts
{
    private const string NoSwitch = "this node has no virtual switch running (see `fabric node show` for the switch part's state)";

    public ValueTask<PortAttachResult> AttachStreamPortAsync(VmPortSpec spec, string socketPath, bool active, CancellationToken cancellationToken) =>
        current() is { } ports ? ports.AttachStreamPortAsync(spec, socketPath, active, cancellationToken) : ValueTask.FromResult(new PortAttachResult(false, NoSwitch));

    public ValueTask ActivatePortAsync(string portName, CancellationToken cancellationToken) =>
        current() is { } ports ? ports.ActivatePortAsync(portName, cancellationToken) : ValueTask.CompletedTask;

    public ValueTask DetachPortAsync(string portName, CancellationToken cancellationToken) =>
        current() is { } ports ? ports.DetachPortAsync(portName, cancellationToken) : ValueTask.CompletedTask;
}
