namespace Fabric.Config.Model;

/// <summary>What the node does when a VM's QEMU dies on its own.</summary>
public enum VmRestartPolicy
{
    /// <summary>"no": leave it crashed.</summary>
    No,

    /// <summary>"on-crash": start it again.</summary>
    OnCrash,
}
