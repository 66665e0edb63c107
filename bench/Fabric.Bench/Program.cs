namespace Fabric.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        // Host programs for the peer comparisons (bench/*.sh) take the first argument; everything else
        // goes to BenchmarkDotNet (--filter '*Name*', --list flat, ...).
        if (args.Length > 0 && args[0] == "switch-host") return Switch.SwitchHost.Run(args[1..]);
        var summaries = BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
    }
}
