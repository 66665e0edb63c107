using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Client.Admin;
using Fabric.IntegrationTests.Support;
using Fabric.Proto;
using Fabric.Rpc.Client;

namespace Fabric.IntegrationTests.DataServices;

/// <summary>Waits the data-services tests share.</summary>
public static class DataServicesCluster
{
    /// <summary>A 3-replica pool "rbd" of 16 PGs and a 64 MiB volume "data" of 1 MiB objects: 64 objects, a few in
    /// every PG, so each node leads PGs that hold some.</summary>
    public const string SmallPool = """

        [[pool]]
        name = "rbd"
        replicas = 3
        min_replicas = 2
        pg_count = 16
        failure_domain = "host"

        [[volume]]
        name = "data"
        pool = "rbd"
        size = "64MiB"
        object_size = "1MiB"
        """;

    /// <summary>Waits until every PG is active+clean as `fabric pg list` reports it.</summary>
    public static Task WaitCleanAsync(TestCluster cluster, TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () =>
        {
            CliResult result = await cluster.CliAsync("pg", "list", "--json");
            return result.ExitCode == 0 ? result.Json : null;
        },
        json => json is not null && (int)json["total"]! > 0 && json["states"]!["active+clean"] is JsonNode clean && (int)clean == (int)json["total"]!,
        timeout ?? TimeSpan.FromSeconds(120), "every PG active+clean", TimeSpan.FromMilliseconds(500));

    /// <summary>One node's OSD status (StorageAdmin.OsdStatus).</summary>
    public static async Task<OsdStatusReply> OsdStatusAsync(NodeInfo node)
    {
        using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
        return await channel.UnaryAsync(StorageAdmin.OsdStatus, new OsdStatusRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(10)));
    }

    /// <summary>Waits until a process is gone (after kill -9).</summary>
    public static Task WaitExitedAsync(int pid) => Wait.UntilAsync(() =>
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }, TimeSpan.FromSeconds(30), $"process {pid} to exit");
}
