using Fabric.Client.Objects;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;

namespace Fabric.Storage.Tests;

/// <summary>Scrub, deep scrub and repair on three OSDs over TCP.</summary>
public class ScrubTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Deep_scrub_finds_exactly_the_bad_replica_copy_and_repair_rewrites_it()
    {
        await using var cluster = new TestCluster(3, pgCount: 4);
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        await using ClusterClient client = cluster.NewClient();
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(ObjectStatus.Ok, (await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = $"o{i}", Kind = OsdOpKind.OsdOpWrite, Data = ReplicationTests.Pattern(16384, i) })).Status);
        }
        PgId pg = PlacementMap.ObjectToPg(cluster.Map.Pools[0], "o7");
        PgMapping mapping = PlacementMap.Build(cluster.Map).Get(pg)!;
        int replica = mapping.Acting.First(o => o != mapping.Primary);
        OsdHost primary = cluster.Hosts[mapping.Primary];

        // A healthy PG deep-scrubs clean.
        await ScrubAsync(primary, pg, deep: true);
        Assert.Empty((await primary.ListInconsistentAsync(new ListInconsistentRequest { Pg = pg.ToString() })).Objects);

        // One bit of one block of o7 flips on a replica (a replica's copy is never read by clients).
        FlipOneBlock(cluster.Stores[replica], pg, "o7");
        await ScrubAsync(primary, pg, deep: false);
        Assert.Empty((await primary.ListInconsistentAsync(new ListInconsistentRequest { Pg = pg.ToString() })).Objects);
        await ScrubAsync(primary, pg, deep: true);
        InconsistentObject found = Assert.Single((await primary.ListInconsistentAsync(new ListInconsistentRequest { Pg = pg.ToString() })).Objects);
        Assert.Equal("o7", found.Object);
        Assert.Equal([replica], found.BadOsds);
        Assert.Contains(found.Errors, e => e.Contains("checksum mismatch"));
        PgStatus status = (await primary.ListPgsAsync(new ListPgsRequest { PrimaryOnly = true })).Pgs.Single(p => p.Pg == pg.ToString());
        Assert.Contains("inconsistent", status.State);
        Assert.Equal(["o7"], status.InconsistentObjects);

        // Repair rewrites the bad copy from the authoritative one; a second deep scrub is clean.
        await ScrubAsync(primary, pg, deep: true, repair: true);
        await cluster.WaitForCleanAsync(Deadline);
        Assert.Empty((await primary.ListInconsistentAsync(new ListInconsistentRequest())).Objects);
        await ScrubAsync(primary, pg, deep: true);
        Assert.Empty((await primary.ListInconsistentAsync(new ListInconsistentRequest())).Objects);
        Assert.Equal(cluster.Objects(mapping.Primary), cluster.Objects(replica));
        byte[] back = new byte[16384];
        Assert.Equal(ObjectStatus.Ok, (await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = "o7", Kind = OsdOpKind.OsdOpRead, Destination = back })).Status);
        Assert.Equal(ReplicationTests.Pattern(16384, 7), back);
        Assert.True((await primary.OsdStatusAsync(new OsdStatusRequest())).ScrubbedObjects > 0);
    }

    [Fact]
    public async Task Scrub_finds_a_copy_missing_on_a_replica_while_writes_go_on_and_repair_restores_it()
    {
        await using var cluster = new TestCluster(3, pgCount: 1, options: new OsdOptions { RetransmitMs = 300, WriteRetransmitMs = 1500, ScrubChunkObjects = 3 });
        await cluster.StartAsync();
        await cluster.WaitForCleanAsync(Deadline);
        await using ClusterClient client = cluster.NewClient();
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(ObjectStatus.Ok, (await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = $"o{i}", Kind = OsdOpKind.OsdOpWrite, Data = ReplicationTests.Pattern(4096, i) })).Status);
        }
        var pg = new PgId(1, 0);
        PgMapping mapping = PlacementMap.Build(cluster.Map).Get(pg)!;
        int replica = mapping.Acting.Last(o => o != mapping.Primary);
        IStoreBatch batch = cluster.Stores[replica].CreateBatch();
        ObjectBlocks.AddDelete(cluster.Stores[replica], batch, pg.Packed, "o11");
        cluster.Stores[replica].Write(batch, null);

        // Writes keep flowing while the chunks are compared (they wait only for their own chunk).
        using var stop = new CancellationTokenSource();
        Task writer = Task.Run(async () =>
        {
            int n = 0;
            while (!stop.IsCancellationRequested)
            {
                ObjectResult result = await client.Objects.ExecuteAsync(new ObjectRequest { Pool = 1, Object = $"w{n++ % 5}", Kind = OsdOpKind.OsdOpWrite, Data = new byte[4096] });
                Assert.Equal(ObjectStatus.Ok, result.Status);
            }
        });
        OsdHost primary = cluster.Hosts[mapping.Primary];
        await ScrubAsync(primary, pg, deep: false);
        InconsistentObject found = Assert.Single((await primary.ListInconsistentAsync(new ListInconsistentRequest())).Objects);
        Assert.Equal("o11", found.Object);
        Assert.Contains($"osd.{replica}: missing", found.Errors);
        await ScrubAsync(primary, pg, deep: false, repair: true);
        stop.Cancel();
        await writer.WaitAsync(Deadline);
        await cluster.WaitForCleanAsync(Deadline);
        await ScrubAsync(primary, pg, deep: true);
        Assert.Empty((await primary.ListInconsistentAsync(new ListInconsistentRequest())).Objects);
        Assert.Equal(cluster.Objects(mapping.Primary), cluster.Objects(replica));
    }

    internal static async Task ScrubAsync(OsdHost primary, PgId pg, bool deep, bool repair = false)
    {
        var request = new ScrubPgRequest { Pg = pg.ToString() };
        ScrubPgReply reply = repair ? await primary.RepairAsync(request) : deep ? await primary.DeepScrubAsync(request) : await primary.ScrubAsync(request);
        Assert.True(reply.Accepted, reply.Error);
        using var cts = new CancellationTokenSource(Deadline);
        while (true)
        {
            PgStatus status = (await primary.ListPgsAsync(new ListPgsRequest { PrimaryOnly = true })).Pgs.Single(p => p.Pg == pg.ToString());
            bool done = deep || repair ? status.DeepScrubs > reply.DeepScrubs : status.Scrubs > reply.Scrubs;
            if (done)
            {
                return;
            }
            await Task.Delay(20, cts.Token);
        }
    }

    internal static void FlipOneBlock(MemoryObjectStore store, PgId pg, string name)
    {
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 20];
        int n = StoreKeys.Block(key, pg.Packed, name, 1);
        byte[] value = store.Get(key[..n])!;
        value[100] ^= 0x10;
        IStoreBatch batch = store.CreateBatch();
        batch.Put(key[..n], value);
        store.Write(batch, null);
    }
}
