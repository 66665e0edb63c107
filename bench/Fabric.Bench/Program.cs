using BenchmarkDotNet.Running;
using Fabric.Bench.Rpc;

namespace Fabric.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        string what = args.Length > 0 ? args[0] : "";
        string[] rest = args.Skip(1).ToArray();
        switch (what)
        {
            case "rpc":
                return RpcLoopbackBenchmark.RunAsync(rest).GetAwaiter().GetResult();
            case "rpc-framing":
                BenchmarkRunner.Run<RpcFramingBenchmarks>(args: rest);
                return 0;
            default:
                Console.Error.WriteLine("usage: Fabric.Bench rpc [--quick] | rpc-framing [BenchmarkDotNet args]");
                return 2;
        }
    }
}
