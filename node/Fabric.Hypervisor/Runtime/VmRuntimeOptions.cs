using Fabric.Hypervisor.Guest;

namespace Fabric.Hypervisor.Runtime;

public sealed record VmRuntimeOptions
{
    /// <summary>Per-node directory for VM run directories (sockets, pid files, console logs). Unix socket
    /// paths are limited to 107 bytes: keep it short.</summary>
    public required string RunDirectory { get; init; }
    public string QemuBinary { get; init; } = Qemu.QemuCommandLine.DefaultBinary;
    /// <summary>TCG translation cache per guest in MiB (null: QEMU's default). See QemuLaunchSpec.</summary>
    public int? TcgTranslationCacheMiB { get; init; }
    /// <summary>Allocate each guest's whole memory when its QEMU starts (incoming migrations included)
    /// instead of on first touch: see NodeConfig.VmMemoryPrealloc for why this is the default.</summary>
    public bool PreallocateMemory { get; init; } = true;
    /// <summary>The kernel and initrd for VMs whose spec names neither a kernel nor boot from disk; also the
    /// accelerator probe's guest.</summary>
    public GuestImagePaths? DefaultGuestImage { get; init; }
    /// <summary>Stop timeout of a VM whose spec has none: ACPI power-off, then forced.</summary>
    public TimeSpan DefaultStopTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long QEMU may take to start answering QMP.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan QmpCommandTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>After a forced `quit`, how long before SIGKILL.</summary>
    public TimeSpan QuitGrace { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>Where the accelerator probe's answer is kept across restarts (null: memory only).</summary>
    public string? AccelCacheFile { get; init; }
    public TimeSpan AccelProbeTimeout { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>Restart policy "on-crash": at most this many restarts within <see cref="RestartWindow"/>.</summary>
    public int MaxRestarts { get; init; } = 5;
    public TimeSpan RestartWindow { get; init; } = TimeSpan.FromMinutes(10);
    public TimeSpan RestartDelay { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Hook deciding whether a crashed VM with restart = "on-crash" is restarted here (default: yes,
    /// within the budget). The node can say no, e.g. to place it elsewhere.</summary>
    public Func<VmStateChange, CancellationToken, ValueTask<bool>>? RestartDecider { get; init; }
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
    /// <summary>Diagnostics sink (one line per call); null = silent.</summary>
    public Action<string>? Log { get; init; }
}
