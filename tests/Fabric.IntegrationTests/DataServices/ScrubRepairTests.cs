using System.Text.Json.Nodes;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.Core.Map;
using Fabric.Core.Placement;
using Fabric.IntegrationTests.Storage;
using Fabric.IntegrationTests.Support;
using Fabric.Proto;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.DataServices;

/// <summary>
/// Scrub, deep scrub and repair with real node processes: one node is stopped (kill -9), a byte of one
/// block is flipped in its RocksDB store for two objects (one whose PG it leads, one it only holds a
/// replica of), and the node restarted. A deep scrub then reports exactly those objects (`fabric pg
/// inconsistent`, state inconsistent, `fabric status` HEALTH_ERR naming them); reading the object on the
/// bad primary returns correct data; `fabric pg repair` rewrites the bad copies; a second deep scrub is
/// clean.
/// </summary>
public sealed class ScrubRepairTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Deep_scrub_reports_the_flipped_copies_a_read_is_correct_and_repair_makes_the_next_deep_scrub_clean()
    {
        await using var cluster = TestCluster.Create(extra: DataServicesCluster.SmallPool);
        await cluster.UpAsync();
        await DataServicesCluster.WaitCleanAsync(cluster);

        // 64 objects of random data.
        byte[] image = new byte[64 << 20];
        new Random(64).NextBytes(image);
        ClusterMap map;
        await using (var client = await StorageTestClient.OpenAsync(cluster))
        {
            VolumeClient volume = await client.OpenVolumeAsync("data");
            Assert.Equal(BlockIoStatus.Ok, await volume.WriteAsync(0, image, false, default));
            map = client.Client.Map;
        }

        // The victim node, an object of a PG it leads and an object of a PG where it is a replica.
        VolumeInfo info = map.FindVolume("data")!;
        var placement = PlacementMap.Build(map);
        PoolInfo pool = map.FindPool(info.PoolId)!;
        NodeInfo victim = map.Nodes.First(n => n.Name == "n2");
        (string Name, PgId Pg) Pick(Func<PgMapping, bool> role)
        {
            for (ulong index = 0; index < 64; index++)
            {
                string name = VolumeObjectName.Format(info.Id, index);
                PgId pg = PlacementMap.ObjectToPg(pool, name);
                if (role(placement.Get(pg)!))
                {
                    return (name, pg);
                }
            }
            throw new InvalidOperationException("no object with that placement");
        }
        (string onPrimary, PgId primaryPg) = Pick(m => m.Primary == (int)victim.Id);
        (string onReplica, PgId replicaPg) = Pick(m => m.Primary != (int)victim.Id && m.Acting.Contains((int)victim.Id));
        output.WriteLine($"victim n2 = osd.{victim.Id}; {onPrimary} in pg {primaryPg} (primary), {onReplica} in pg {replicaPg} (replica)");

        // Stop the node, flip one byte of one block of each object in its store, start it again.
        int pid = cluster.Pid("n2");
        cluster.Kill9("n2");
        await DataServicesCluster.WaitExitedAsync(pid);
        string store = Path.Combine(cluster.Home, "data", "n2", "osd");
        output.WriteLine(StoreCorruptor.FlipByte(store, primaryPg.Packed, onPrimary, block: 3, byteOffset: 1000));
        output.WriteLine(StoreCorruptor.FlipByte(store, replicaPg.Packed, onReplica, block: 7, byteOffset: 2000));
        await cluster.UpAsync();
        await DataServicesCluster.WaitCleanAsync(cluster);

        // A deep scrub reports exactly those two objects, with n2's copy the bad one.
        await cluster.CliJsonAsync("pg", "deep-scrub", primaryPg.ToString());
        await cluster.CliJsonAsync("pg", "deep-scrub", replicaPg.ToString());
        JsonArray found = (await cluster.CliJsonAsync("pg", "inconsistent"))["objects"]!.AsArray();
        Assert.Equal(new[] { onPrimary, onReplica }.Order(StringComparer.Ordinal), found.Select(o => (string)o!["object"]!).Order(StringComparer.Ordinal));
        Assert.All(found, o => Assert.Equal(new[] { (int)victim.Id }, o!["bad_osds"]!.AsArray().Select(x => (int)x!)));
        Assert.All(found, o => Assert.Contains("checksum mismatch", o!["errors"]!.ToJsonString()));
        JsonNode pgs = await cluster.CliJsonAsync("pg", "list");
        Assert.Contains("inconsistent", (string)pgs["pgs"]!.AsArray().Single(p => (string)p!["pg"]! == replicaPg.ToString())!["state"]!);
        JsonNode status = await cluster.CliJsonAsync("status");
        Assert.Equal("HEALTH_ERR", (string)status["health"]!["status"]!);
        Assert.Contains(onReplica, status.ToJsonString());

        // Reading the object whose primary copy is bad returns the right bytes (served from a replica, which
        // also rewrites the bad copy).
        await using (var client = await StorageTestClient.OpenAsync(cluster))
        {
            VolumeClient volume = await client.OpenVolumeAsync("data");
            long offset = (long)VolumeIndex(onPrimary) << 20;
            byte[] back = new byte[1 << 20];
            Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(offset, back, default));
            Assert.True(back.AsSpan().SequenceEqual(image.AsSpan((int)offset, 1 << 20)), "the read returned bad data");
        }

        // Repair, then a second deep scrub is clean and the cluster healthy again.
        await cluster.CliJsonAsync("pg", "repair", primaryPg.ToString());
        await cluster.CliJsonAsync("pg", "repair", replicaPg.ToString());
        await DataServicesCluster.WaitCleanAsync(cluster);
        await cluster.CliJsonAsync("pg", "deep-scrub", primaryPg.ToString());
        await cluster.CliJsonAsync("pg", "deep-scrub", replicaPg.ToString());
        Assert.Empty((await cluster.CliJsonAsync("pg", "inconsistent"))["objects"]!.AsArray());
        Assert.NotEqual("HEALTH_ERR", (string)(await cluster.CliJsonAsync("status"))["health"]!["status"]!);
        await using (var client = await StorageTestClient.OpenAsync(cluster))
        {
            VolumeClient volume = await client.OpenVolumeAsync("data");
            byte[] all = new byte[64 << 20];
            Assert.Equal(BlockIoStatus.Ok, await volume.ReadAsync(0, all, default));
            Assert.True(all.AsSpan().SequenceEqual(image), "the volume differs after repair");
        }
    }

    private static ulong VolumeIndex(string objectName)
    {
        VolumeObjectName.TryParse(objectName, out _, out ulong index);
        return index;
    }
}
