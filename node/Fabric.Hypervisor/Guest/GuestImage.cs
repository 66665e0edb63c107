using System.Diagnostics;

namespace Fabric.Hypervisor.Guest;

/// <summary>
/// The tiny Fabric guest: Debian's cloud kernel plus a busybox initramfs whose /init is driven by the
/// kernel command line (see Guest/init and <see cref="GuestCmdline"/>). Built by Guest/build-image.sh,
/// which ships next to this assembly; re-building with the same inputs is a no-op.
/// </summary>
public static class GuestImage
{
    /// <summary>Where build-image.sh and init are: next to the assembly, in Guest/.</summary>
    public static string ScriptDirectory => Path.Combine(AppContext.BaseDirectory, "Guest");

    /// <summary>The image in <paramref name="outDir"/> if it was built there before, without building.</summary>
    public static GuestImagePaths? TryOpen(string outDir)
    {
        var k = Path.Combine(outDir, "vmlinuz");
        var i = Path.Combine(outDir, "initrd.img");
        var v = Path.Combine(outDir, "image.txt");
        if (!File.Exists(k) || !File.Exists(i) || !File.Exists(v)) return null;
        return new GuestImagePaths(k, i, File.ReadAllText(v).Split(' ')[0].Trim());
    }

    /// <summary>Builds (or finds up to date) the guest image in <paramref name="outDir"/>.</summary>
    /// <exception cref="InvalidOperationException">The build failed; the message carries the script's error.</exception>
    public static async Task<GuestImagePaths> BuildAsync(string outDir, CancellationToken cancellationToken = default, string? scriptDirectory = null)
    {
        var script = Path.Combine(scriptDirectory ?? ScriptDirectory, "build-image.sh");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException($"guest image script not found at {script} (is Guest/ copied to the output directory?)");
        }
        Directory.CreateDirectory(outDir);
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(outDir);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start bash for build-image.sh");
        var stdout = p.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await p.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        var err = await stderr.ConfigureAwait(false);
        await stdout.ConfigureAwait(false);
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"building the guest image into {outDir} failed (exit {p.ExitCode}): {err.Trim()}");
        }
        return TryOpen(outDir) ?? throw new InvalidOperationException($"build-image.sh succeeded but {outDir} has no image");
    }
}
