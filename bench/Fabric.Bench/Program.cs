namespace Fabric.Bench;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] is "storage-host" or "storage-bench")
        {
            return await Storage.StorageBench.RunAsync(args[0], args[1..]);
        }
        Console.Error.WriteLine("usage: Fabric.Bench storage-host --osd N --dir DIR | storage-bench --rw read|write --pattern rand|seq --bs 4K --qd 16 --seconds 10");
        return 2;
    }
}
