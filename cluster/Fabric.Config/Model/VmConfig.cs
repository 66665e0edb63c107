using Fabric.Core.Units;

namespace Fabric.Config.Model;

/// <summary>One <c>[[vm]]</c>.</summary>
public sealed record VmConfig
{
    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(30);

    public required string Name { get; init; }

    /// <summary>Pinned node; null: the scheduler chooses.</summary>
    public string? Node { get; init; }

    public int Vcpus { get; init; } = 1;

    public required ByteSize Memory { get; init; }

    /// <summary>A guest image known to the nodes (e.g. "tiny", built by <c>fabric image build</c>); boots kernel + initrd from it.</summary>
    public string? Image { get; init; }

    public string? Kernel { get; init; }

    public string? Initrd { get; init; }

    public string? Cmdline { get; init; }

    /// <summary>What the image's init runs (the tiny guest reads it from its command line).</summary>
    public string? Workload { get; init; }

    /// <summary>Restart elsewhere when its node is declared down.</summary>
    public bool Ha { get; init; }

    public VmRestartPolicy Restart { get; init; } = VmRestartPolicy.No;

    public VmAccel Accel { get; init; } = VmAccel.Auto;

    /// <summary>How long a graceful stop may take before QEMU is killed.</summary>
    public TimeSpan StopTimeout { get; init; } = DefaultStopTimeout;

    public IReadOnlyList<VmDiskConfig> Disks { get; init; } = [];

    public IReadOnlyList<VmNicConfig> Nics { get; init; } = [];

    public ConfigSource Source { get; init; } = ConfigSource.None;

    /// <summary>Neither an image nor a kernel: the VM boots from its first disk.</summary>
    public bool BootFromDisk => Image is null && Kernel is null;
}
