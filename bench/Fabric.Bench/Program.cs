namespace Fabric.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "membership") return Membership.MembershipBench.Run(args[1..]);
        Console.Error.WriteLine("Fabric.Bench: no benchmarks yet");
        return 2;
    }
}
