namespace Fabric.Hypervisor.Runtime;

/// <summary>Why a VM operation was refused or failed.</summary>
public enum VmErrorCode
{
    None,
    /// <summary>No VM of that name on this node.</summary>
    NotFound,
    /// <summary>The VM exists already (start of a running VM).</summary>
    AlreadyExists,
    /// <summary>The operation does not apply in the VM's state (pause of a stopped VM).</summary>
    InvalidState,
    /// <summary>The spec is unusable (bad MAC, no kernel, too little memory, ...).</summary>
    InvalidSpec,
    /// <summary>A disk export or a switch port could not be set up.</summary>
    ResourceFailed,
    /// <summary>QEMU failed to start or to answer.</summary>
    QemuFailed,
    Timeout,
    Cancelled,
}
