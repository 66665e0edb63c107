using System.Text.Json.Nodes;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Cluster;

/// <summary>Three monitors keeping the map in a real etcd, started by `fabric up`.</summary>
public sealed class HaMonitorTests
{
    private static TestCluster HaCluster() =>
        TestCluster.Create(nodeCount: 3, cluster: subnet => $"""
            name = "ha{subnet}"
            monitors = ["n1", "n2", "n3"]
            heartbeat_interval = "500ms"
            heartbeat_grace = "3s"
            down_out_interval = "60s"

            [cluster.etcd]
            endpoints = ["http://127.0.{subnet}.1:2379"]
            prefix = "/fabric/ha{subnet}"
            """);

    [RequiresFact("/usr/bin/etcd", "apt-get install etcd-server")]
    public async Task Killing_the_active_monitor_elects_another_and_epochs_only_grow()
    {
        await using var cluster = HaCluster();
        await cluster.UpAsync();
        var epochs = new List<ulong>();
        var status = await cluster.CliJsonAsync("status");
        epochs.Add((ulong)status["epoch"]!);
        var active = (string)status["active_monitor"]!;
        Assert.Contains(active, cluster.Nodes);
        Assert.All(status["monitors"]!.AsArray(), m => Assert.Equal("etcd", (string)m!["store"]!));
        Assert.Equal(2, status["monitors"]!.AsArray().Count(m => (string)m!["role"]! == "standby"));

        cluster.Kill9(active);
        var after = await Wait.UntilAsync(async () =>
        {
            var s = await cluster.CliJsonAsync("status");
            epochs.Add((ulong)s["epoch"]!);
            return s;
        }, s => s["active_monitor"] is JsonValue v && (string)v! != active && s["nodes"]!["down"]!.AsArray().Any(n => (string)n! == active),
            TimeSpan.FromSeconds(40), "another monitor to become active and mark the old one down");
        Assert.NotEqual(active, (string)after["active_monitor"]!);
        for (int i = 1; i < epochs.Count; i++) Assert.True(epochs[i] >= epochs[i - 1], $"epoch went back from {epochs[i - 1]} to {epochs[i]}");
    }

    [RequiresFact("/usr/bin/etcd", "apt-get install etcd-server")]
    public async Task A_change_proposed_to_two_monitors_at_once_is_applied_once()
    {
        await using var cluster = HaCluster();
        await cluster.UpAsync();
        using var viaN1 = new MonitorClient([cluster.Grpc("n1")]);
        using var viaN3 = new MonitorClient([cluster.Grpc("n3")]);
        for (int round = 0; round < 5; round++)
        {
            var requestId = Guid.NewGuid().ToString("N");
            MapTransaction Tx()
            {
                var tx = new MapTransaction { RequestId = requestId };
                tx.Changes.Add(new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = $"twice{round}" } } });
                return tx;
            }
            var replies = await Task.WhenAll(viaN1.ProposeAsync(Tx(), CancellationToken.None), viaN3.ProposeAsync(Tx(), CancellationToken.None));
            Assert.Equal(replies[0].Epoch, replies[1].Epoch);
            Assert.Single(replies, r => !r.Duplicate);
        }
        var map = await viaN1.GetLatestMapAsync(CancellationToken.None);
        Assert.Equal(5, map.Pools.Count(p => p.Name.StartsWith("twice", StringComparison.Ordinal)));
    }
}
