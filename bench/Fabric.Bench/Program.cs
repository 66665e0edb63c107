namespace Fabric.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0].StartsWith("blk-", StringComparison.Ordinal))
        {
            return BlockBackend.BlkCommands.Run(args);
        }
        Console.Error.WriteLine("Fabric.Bench: no benchmarks yet");
        return 2;
    }
}
