using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Vms;

/// <summary>
/// QEMUs left running by an earlier process of this node (it was killed: its VMs' QEMUs outlive it, with
/// their disks and NICs gone). They are killed when the node starts, before any VM starts again: a second
/// QEMU of the same VM must never run beside a stale one. Found by the pid files in the VMs' run
/// directories, and checked by their command line (which names that run directory) so that an unrelated
/// process that reused the pid is left alone.
/// </summary>
public static class OrphanQemus
{
    public static int Kill(string vmsDirectory, ILogger log)
    {
        if (!Directory.Exists(vmsDirectory)) return 0;
        var killed = 0;
        foreach (var pidFile in Directory.EnumerateFiles(vmsDirectory, "qemu.pid", SearchOption.AllDirectories))
        {
            var runDir = Path.GetDirectoryName(pidFile)!;
            if (!int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)) continue;
            try
            {
                var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
                if (!cmdline.Contains(runDir, StringComparison.Ordinal)) continue;
                using var process = Process.GetProcessById(pid);
                log.LogWarning("Killing the QEMU of VM {Vm} (pid {Pid}) left running by an earlier process of this node", Path.GetFileName(runDir), pid);
                process.Kill();
                process.WaitForExit(5000);
                killed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
                // Gone already, or not ours.
            }
            finally
            {
                try { File.Delete(pidFile); } catch (IOException) { }
            }
        }
        return killed;
    }
}
