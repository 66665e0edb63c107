namespace Fabric.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("Fabric.Bench: no benchmarks yet");
        return 2;
    }
}
