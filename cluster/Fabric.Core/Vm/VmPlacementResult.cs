using Fabric.Proto;

namespace Fabric.Core.Vm;

/// <summary>Where a VM goes, or why it cannot go anywhere (a message that names the VM, the need and the best offer).</summary>
public readonly record struct VmPlacementResult(NodeInfo? Node, string? Error)
{
    public bool Ok => Node is not null;

    public static VmPlacementResult On(NodeInfo node) => new(node, null);

    public static VmPlacementResult Refused(string error) => new(null, error);
}
