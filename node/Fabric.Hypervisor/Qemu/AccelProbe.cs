using System.Collections.Concurrent;
using Fabric.Hypervisor.Guest;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Resolves a VM's accelerator setting ("auto", "kvm", "tcg"). "auto" means KVM only when a guest really
/// boots under it: a /dev/kvm that exists can still be unusable (nested without VMX, where the guest
/// crawls and dies with "KVM internal error"). The probe boots the Fabric guest under KVM and waits for
/// its ready marker; the answer is cached in memory and, when a cache file is given, across restarts.
/// </summary>
public static class AccelProbe
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<QemuAccel>>> Cache = new();

    /// <exception cref="ArgumentException">The setting is not auto, kvm or tcg.</exception>
    public static Task<QemuAccel> ResolveAsync(string? setting, string qemuBinary, GuestImagePaths? probeImage,
        string? cacheFile, TimeSpan probeTimeout, CancellationToken cancellationToken)
    {
        switch ((setting ?? "").Trim().ToLowerInvariant())
        {
            case "tcg": return Task.FromResult(QemuAccel.Tcg);
            case "kvm": return Task.FromResult(QemuAccel.Kvm);
            case "" or "auto": break;
            default: throw new ArgumentException($"accel must be auto, kvm or tcg, not '{setting}'");
        }
        if (!File.Exists("/dev/kvm") || probeImage is null) return Task.FromResult(QemuAccel.Tcg);
        var key = cacheFile ?? "";
        var lazy = Cache.GetOrAdd(key, _ => new Lazy<Task<QemuAccel>>(() => ProbeAsync(qemuBinary, probeImage, cacheFile, probeTimeout)));
        return lazy.Value.WaitAsync(cancellationToken);
    }

    private static async Task<QemuAccel> ProbeAsync(string qemuBinary, GuestImagePaths image, string? cacheFile, TimeSpan timeout)
    {
        if (cacheFile is not null && File.Exists(cacheFile))
        {
            var cached = File.ReadAllText(cacheFile).Trim();
            if (cached == "kvm") return QemuAccel.Kvm;
            if (cached == "tcg") return QemuAccel.Tcg;
        }
        var dir = Directory.CreateTempSubdirectory("fabric-kvm-probe-");
        var result = QemuAccel.Tcg;
        try
        {
            var console = Path.Combine(dir.FullName, "console.log");
            var args = new[]
            {
                "-accel", "kvm", "-M", "pc", "-m", "128M", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-serial", $"file:{console}", "-kernel", image.Kernel, "-initrd", image.Initrd,
                "-append", "console=ttyS0 quiet fabric.hostname=kvm-probe fabric.poweroff=1",
            };
            using var qemu = QemuProcess.Start(qemuBinary, args, Path.Combine(dir.FullName, "qemu.log"));
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await qemu.Exited.WaitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                qemu.Kill();
                await qemu.Exited.ConfigureAwait(false);
            }
            if (File.Exists(console) && File.ReadAllText(console).Contains("FABRIC-GUEST-READY kvm-probe", StringComparison.Ordinal))
            {
                result = QemuAccel.Kvm;
            }
        }
        finally
        {
            try { dir.Delete(recursive: true); } catch (IOException) { }
        }
        if (cacheFile is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(cacheFile)!);
            File.WriteAllText(cacheFile, result == QemuAccel.Kvm ? "kvm\n" : "tcg\n");
        }
        return result;
    }
}
