namespace Fabric.Hypervisor.Migration;

public enum MigrationOutcome
{
    /// <summary>The VM runs on the destination; the source QEMU is gone.</summary>
    Completed,
    /// <summary>Cancelled (by the caller, a failed switch-over step, or the timeout): the VM runs on the source.</summary>
    Cancelled,
    /// <summary>QEMU reported failure (destination died, network): the VM runs on the source.</summary>
    Failed,
    /// <summary>Nothing was started (the VM is not here, or not in a state that migrates).</summary>
    Refused,
    /// <summary>The source QEMU died during the migration: the VM runs nowhere unless the destination completed.</summary>
    SourceDied,
}
