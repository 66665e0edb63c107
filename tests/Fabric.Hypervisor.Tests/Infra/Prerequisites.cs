using System.Diagnostics;

namespace Fabric.Hypervisor.Tests.Infra;

/// <summary>
/// What the QEMU tests need on the machine. Outside CI a missing tool skips them with the reason; under
/// CI=true it fails them (a green CI must mean the tests ran).
/// </summary>
public static class Prerequisites
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    private static readonly Lazy<string?> Missing = new(() =>
    {
        foreach (var tool in new[] { "qemu-system-x86_64", "qemu-storage-daemon", "busybox", "cpio" })
        {
            if (!OnPath(tool)) return $"'{tool}' is not installed (apt-get install qemu-system-x86 qemu-utils busybox-static cpio)";
        }
        return null;
    });

    /// <summary>Why QEMU tests cannot run here, or null.</summary>
    public static string? MissingQemu => Missing.Value;

    public static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));

    public static int RunQuiet(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode;
    }
}

/// <summary>A test that boots QEMU: skipped outside CI when QEMU is missing, failed under CI.</summary>
public sealed class QemuFactAttribute : FactAttribute
{
    public QemuFactAttribute()
    {
        if (Prerequisites.MissingQemu is { } why && !Prerequisites.InCi) Skip = why;
    }
}
