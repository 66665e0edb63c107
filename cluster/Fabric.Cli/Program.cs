namespace Fabric.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("fabric: no verbs yet");
        return 2;
    }
}
