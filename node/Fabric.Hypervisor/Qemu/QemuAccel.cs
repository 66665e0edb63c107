namespace Fabric.Hypervisor.Qemu;

/// <summary>The accelerator a QEMU runs with (after "auto" has been resolved by <see cref="AccelProbe"/>).</summary>
public enum QemuAccel
{
    Tcg,
    Kvm,
}
