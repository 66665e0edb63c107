namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Everything one QEMU process needs, resolved: paths of sockets and files, the accelerator, the guest's
/// boot source. <see cref="QemuCommandLine"/> turns it into arguments; nothing here is looked up later.
/// </summary>
public sealed record QemuLaunchSpec
{
    public required string Name { get; init; }
    public required uint Vcpus { get; init; }
    public required ulong MemoryBytes { get; init; }
    /// <summary>Allocate all guest memory at start (`prealloc=on`), see VmRuntimeOptions.PreallocateMemory.</summary>
    public bool PreallocateMemory { get; init; }
    public QemuAccel Accel { get; init; } = QemuAccel.Tcg;
    /// <summary>TCG's translated-code cache in MiB (null: QEMU's default, up to 1 GiB). Each TCG guest's
    /// resident memory grows with it, so a small cache packs more small guests on a node.</summary>
    public int? TcgTranslationCacheMiB { get; init; }
    /// <summary>QEMU machine type. "pc" (i440fx): `-M microvm` hung in a third of the boots here.</summary>
    public string Machine { get; init; } = "pc";
    public string? Kernel { get; init; }
    public string? Initrd { get; init; }
    public string? KernelCmdline { get; init; }
    /// <summary>Boot the firmware from the first disk instead of a kernel.</summary>
    public bool BootFromDisk { get; init; }
    public IReadOnlyList<QemuDisk> Disks { get; init; } = Array.Empty<QemuDisk>();
    public IReadOnlyList<QemuNic> Nics { get; init; } = Array.Empty<QemuNic>();
    public required string QmpSocketPath { get; init; }
    /// <summary>The serial console (ttyS0) is appended to this file.</summary>
    public required string ConsoleLogPath { get; init; }
    public required string PidFilePath { get; init; }
    /// <summary>Start as a migration destination: `-incoming defer`, then migrate-incoming over QMP.</summary>
    public bool IncomingDefer { get; init; }
    /// <summary>Start with the vCPUs stopped (`-S`): the runtime attaches NICs first, then `cont`.</summary>
    public bool StartPaused { get; init; }
}
