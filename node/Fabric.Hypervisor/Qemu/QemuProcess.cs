using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// One running QEMU. Its stdout and stderr go to a log file (not to pipes of this process), so QEMU never
/// blocks on, or dies with, the node's pipes. <see cref="Exited"/> completes when the process ends.
/// </summary>
public sealed class QemuProcess : IDisposable
{
    private readonly Process _process;

    private QemuProcess(Process process, string logPath, string commandLine)
    {
        _process = process;
        LogPath = logPath;
        CommandLine = commandLine;
        Pid = process.Id;
        Exited = WaitAsync();
    }

    public int Pid { get; }
    public string LogPath { get; }
    /// <summary>The command line as a shell would run it (for logs and for reproducing by hand).</summary>
    public string CommandLine { get; }
    public Task<QemuExit> Exited { get; }
    public bool HasExited => Exited.IsCompleted;

    /// <summary>Starts <paramref name="binary"/> with <paramref name="args"/>, output appended to <paramref name="logPath"/>.</summary>
    public static QemuProcess Start(string binary, IReadOnlyList<string> args, string logPath)
    {
        // sh execs QEMU in place (same pid), after pointing stdout/stderr at the log.
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" >>\"$FABRIC_QEMU_LOG\" 2>&1 </dev/null");
        psi.ArgumentList.Add("qemu");
        psi.ArgumentList.Add(binary);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["FABRIC_QEMU_LOG"] = logPath;
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {binary}");
        return new QemuProcess(p, logPath, QemuCommandLine.ToShell(binary, args));
    }

    private async Task<QemuExit> WaitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        return new QemuExit(_process.ExitCode);
    }

    /// <summary>SIGKILL, if still running.</summary>
    public void Kill()
    {
        if (HasExited) return;
        try { _process.Kill(); } catch (InvalidOperationException) { } catch (System.ComponentModel.Win32Exception) { }
    }

    /// <summary>Sends <paramref name="signal"/> (15 = SIGTERM), if still running.</summary>
    public void Signal(int signal)
    {
        if (!HasExited) _ = kill(Pid, signal);
    }

    /// <summary>The last <paramref name="maxBytes"/> of QEMU's own output (its error messages).</summary>
    public string LogTail(int maxBytes = 2000) => ReadTail(LogPath, maxBytes);

    internal static string ReadTail(string path, int maxBytes)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var start = Math.Max(0, f.Length - maxBytes);
            f.Position = start;
            using var r = new StreamReader(f);
            return r.ReadToEnd().Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    public void Dispose() => _process.Dispose();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
