// Mounts a small tmpfs so a test can run RocksDB into a real "No space left on device".
using System.Diagnostics;

namespace Fabric.RocksDb.Tests.Support;

public static class TmpfsMount
{
    public static bool TryMount(string directory, string size, out string error)
    {
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", directory);
        error = output;
        return code == 0;
    }

    public static void Unmount(string directory)
    {
        // Lazy: the mount disappears as soon as nothing uses it, even if a file is still open.
        var (code, output) = Run("umount", "-l", directory);
        if (code != 0) throw new InvalidOperationException($"umount {directory} failed: {output}");
    }

    private static (int Code, string Output) Run(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            if (!process.WaitForExit(30_000))
            {
                process.Kill();
                return (-1, $"{command} did not finish within 30 s");
            }
            return (process.ExitCode, output.Trim());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{command}: {e.Message}");
        }
    }
}
