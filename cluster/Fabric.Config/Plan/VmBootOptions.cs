namespace Fabric.Config.Plan;

/// <summary>
/// How a VM's <c>image</c> and <c>workload</c> become the kernel, initrd and command line stored in its
/// VmSpec. An image named "tiny" is the directory <c>{ImageDirectory}/tiny</c> holding <c>vmlinuz</c> and
/// <c>initrd.img</c> (what node/Fabric.Hypervisor/Guest/build-image.sh writes); a relative directory is
/// relative to the node's $FABRIC_HOME, resolved by the node. The command line follows the guest's
/// /init contract: <c>fabric.hostname</c>, <c>fabric.ip</c> (one address per NIC), <c>fabric.gw</c>,
/// <c>fabric.workload64</c> (base64 of the workload script).
/// </summary>
public sealed record VmBootOptions
{
    public static VmBootOptions Default { get; } = new();

    /// <summary>Where images live; relative paths are resolved by the node against $FABRIC_HOME.</summary>
    public string ImageDirectory { get; init; } = "images";

    /// <summary>Put first on an image VM's command line.</summary>
    public string BaseCmdline { get; init; } = "console=ttyS0";

    public string KernelFileName { get; init; } = "vmlinuz";

    public string InitrdFileName { get; init; } = "initrd.img";
}
