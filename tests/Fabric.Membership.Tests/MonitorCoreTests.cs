using Fabric.Core.Map;
using Fabric.Membership.Monitor;
using Fabric.Membership.Store;
using Fabric.Proto;

namespace Fabric.Membership.Tests;

public sealed class MonitorCoreTests
{
    private static MapTransaction PoolTx(string name, string requestId = "", ulong baseEpoch = 0)
    {
        var tx = new MapTransaction { RequestId = requestId, BaseEpoch = baseEpoch };
        tx.Changes.Add(new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = name } } });
        return tx;
    }

    [Fact]
    public async Task A_request_id_is_applied_once_even_when_proposed_twice()
    {
        var h = new MonitorHarness();
        var first = await h.Monitor.ProposeAsync(PoolTx("rbd", "req-1"), CancellationToken.None);
        var second = await h.Monitor.ProposeAsync(PoolTx("rbd", "req-1"), CancellationToken.None);
        Assert.Null(first.Error);
        Assert.True(second.IsDuplicate);
        Assert.Equal(first.Epoch, second.Epoch);
        Assert.Single(h.Map.Pools);
    }

    [Fact]
    public async Task Two_monitors_on_one_store_never_commit_the_same_epoch_twice()
    {
        var store = new MemoryMapStore();
        var a = new MonitorHarness(store);
        var b = new MonitorHarness(store);
        // Both think they are active. Each commit must extend the store by one epoch; the loser catches up.
        var ra = await a.Monitor.ProposeAsync(PoolTx("p1"), CancellationToken.None);
        var rb = await b.Monitor.ProposeAsync(PoolTx("p2"), CancellationToken.None);
        Assert.Null(ra.Error);
        Assert.Null(rb.Error);
        Assert.Equal(ra.Epoch + 1, rb.Epoch);
        var latest = await store.LoadLatestAsync(CancellationToken.None);
        Assert.Equal(new[] { "p1", "p2" }, latest!.Pools.Select(p => p.Name).ToArray());

        // The same request id sent to both is applied once.
        var dupA = await a.Monitor.ProposeAsync(PoolTx("p3", "same"), CancellationToken.None);
        var dupB = await b.Monitor.ProposeAsync(PoolTx("p3", "same"), CancellationToken.None);
        Assert.False(dupA.IsDuplicate);
        Assert.True(dupB.IsDuplicate);
        Assert.Equal(dupA.Epoch, dupB.Epoch);
    }

    [Fact]
    public async Task A_stale_change_is_refused_and_the_map_is_unchanged()
    {
        var h = new MonitorHarness();
        var epoch = h.Map.Epoch;
        await h.Monitor.ProposeAsync(PoolTx("p1"), CancellationToken.None);
        var stale = await h.Monitor.ProposeAsync(PoolTx("p2", baseEpoch: epoch), CancellationToken.None);
        Assert.Equal(MapErrorKind.StaleEpoch, stale.Error!.Kind);
        Assert.Equal(epoch + 1, h.Map.Epoch);
    }

    [Fact]
    public async Task Watchers_see_every_epoch_in_order()
    {
        var h = new MonitorHarness();
        using var cts = new CancellationTokenSource();
        var start = h.Map.Epoch;
        var reader = h.Monitor.History.Subscribe(start, cts.Token);
        for (int i = 0; i < 50; i++) await h.Monitor.ProposeAsync(PoolTx("p" + i), CancellationToken.None);
        for (ulong expected = start + 1; expected <= start + 50; expected++)
        {
            Assert.True(reader.TryRead(out var map));
            Assert.Equal(expected, map!.Epoch);
        }
        // A late watcher from an old epoch replays the history.
        var late = h.Monitor.History.Subscribe(start + 10, cts.Token);
        Assert.True(late.TryRead(out var first));
        Assert.Equal(start + 11, first!.Epoch);
    }

    [Fact]
    public async Task A_join_for_another_cluster_is_refused()
    {
        var h = new MonitorHarness();
        var outcome = await h.Monitor.JoinAsync(new JoinRequest { Name = "n9", GrpcAddress = "127.0.0.9:7000", Fsid = "other" }, CancellationToken.None);
        Assert.NotNull(outcome.Error);
        Assert.Contains("wipe the node's data directory", outcome.Error!.Message);
        Assert.Empty(h.Map.Nodes);
    }
}
