namespace Fabric.Config.Model;

/// <summary>QEMU accelerator.</summary>
public enum VmAccel
{
    /// <summary>"auto": kvm when a probe boots with it, else tcg.</summary>
    Auto,
    Kvm,
    Tcg,
}
