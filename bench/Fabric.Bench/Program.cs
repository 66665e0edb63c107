using BenchmarkDotNet.Running;
using Fabric.Bench.Rpc;

namespace Fabric.Bench;

/// <summary>
/// `dotnet run -c Release --project bench/Fabric.Bench -- MODE [args]`. Modes are the runners and host
/// programs of the side-by-side comparisons (bench/*.sh); anything else goes to BenchmarkDotNet
/// (`--filter '*Name*'`, `--list flat`, ...).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var mode = args.Length > 0 ? args[0] : "";
        var rest = args.Skip(1).ToArray();
        switch (mode)
        {
            case "rpc":
                return await RpcLoopbackBenchmark.RunAsync(rest);
            case "rpc-framing":
                BenchmarkRunner.Run<RpcFramingBenchmarks>(args: rest);
                return 0;
            case "membership":
                return Membership.MembershipBench.Run(rest);
            case "storage-host" or "storage-bench":
                return await Storage.StorageBench.RunAsync(mode, rest);
            case "dataservices":
                return await DataServices.DataServicesBench.RunAsync(rest);
            case "rocks-batch":
                return DataServices.RocksBatchProbe.Run(rest);
            case "store-write":
                return DataServices.StoreWriteBench.Run(rest);
            case "volume-writer":
                return await DataServices.VolumeWriter.RunAsync(rest);
            case "sync-probe":
                return Storage.SyncProbe.Run(rest);
            case "rocksdb":
                return RocksDb.RocksDbBench.Run(rest);
            case "switch-host":
                return Switch.SwitchHost.Run(rest);
            case "switch-nodes":
                return await Switch.SwitchNodes.RunAsync(rest);
            case "hypervisor":
                return await Hypervisor.HypervisorBench.RunAsync(rest);
            case var blk when blk.StartsWith("blk-", StringComparison.Ordinal):
                return BlockBackend.BlkCommands.Run(args);
            default:
                var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
                return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
        }
    }
}
