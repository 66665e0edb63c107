using System.Runtime.InteropServices;

namespace Fabric.Cli.Local;

/// <summary>Signals for processes the CLI started.</summary>
public static class Posix
{
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public static bool Terminate(int pid) => Kill(pid, 15) == 0;

    public static bool ForceKill(int pid) => Kill(pid, 9) == 0;
}
