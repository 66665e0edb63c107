namespace Fabric.Hypervisor.Qemu;

/// <summary>How a QEMU process ended. .NET reports death by signal N as exit code 128 + N.</summary>
public readonly record struct QemuExit(int ExitCode)
{
    public int? Signal => ExitCode > 128 && ExitCode < 128 + 65 ? ExitCode - 128 : null;

    public override string ToString() => Signal is { } s ? $"killed by signal {s}" : $"exit code {ExitCode}";
}
