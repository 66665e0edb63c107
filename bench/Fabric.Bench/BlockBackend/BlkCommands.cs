namespace Fabric.Bench.BlockBackend;

/// <summary>Entry for the block backend's bench commands: blk-host, blk-cache-micro.</summary>
public static class BlkCommands
{
    public static int Run(string[] args) => args[0] switch
    {
        "blk-host" => BlkHost.RunAsync(args[1..]).GetAwaiter().GetResult(),
        "blk-cache-micro" => CacheMicro.Run(args[1..]),
        _ => Unknown(args[0]),
    };

    private static int Unknown(string command)
    {
        Console.Error.WriteLine($"unknown block bench command '{command}' (blk-host, blk-cache-micro)");
        return 2;
    }
}
