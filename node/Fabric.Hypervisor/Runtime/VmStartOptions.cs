namespace Fabric.Hypervisor.Runtime;

/// <summary>Per-start choices the node makes (not part of the VM's spec).</summary>
public sealed record VmStartOptions
{
    /// <summary>The VM's generation from the cluster map; names the disk exports of this run.</summary>
    public ulong Generation { get; init; }
}
