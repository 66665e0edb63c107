namespace Fabric.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "hypervisor") return Hypervisor.HypervisorBench.RunAsync(args[1..]).GetAwaiter().GetResult();
        Console.Error.WriteLine("Fabric.Bench: no benchmarks yet");
        return 2;
    }
}
