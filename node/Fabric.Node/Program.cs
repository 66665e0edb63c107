namespace Fabric.Node;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("Fabric.Node: not wired yet");
        return 2;
    }
}
