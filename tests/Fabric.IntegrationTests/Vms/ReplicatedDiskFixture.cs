using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// One 3-node cluster for the replicated-disk tests: a 3-replica pool and a few volumes, the tiny guest
/// image in its $FABRIC_HOME. Tests on it must not depend on each other's order (one of them kills n3, and
/// the others work on the two nodes left).
/// </summary>
public sealed class ReplicatedDiskFixture : IAsyncLifetime
{
    public const string Volumes = """

        [[pool]]
        name = "rbd"
        replicas = 3
        min_replicas = 2
        pg_count = 32

        [[volume]]
        name = "img"
        pool = "rbd"
        size = "32MiB"

        [[volume]]
        name = "disk"
        pool = "rbd"
        size = "32MiB"

        [[volume]]
        name = "spare"
        pool = "rbd"
        size = "16MiB"

        [[volume]]
        name = "spare2"
        pool = "rbd"
        size = "16MiB"

        [[volume]]
        name = "cachedsnap"
        pool = "rbd"
        size = "16MiB"

        [[volume]]
        name = "through"
        pool = "rbd"
        size = "16MiB"

        [[volume]]
        name = "back"
        pool = "rbd"
        size = "16MiB"
        """;

    // Every node runs with a write cache: these are the tests of what a guest or a tool may rely on (flushed
    // writes survive a storage node's kill -9 and move with the disk to another node; two NBD clients see
    // each other's flushed writes), and the cache must keep all of it.
    public TestCluster Cluster { get; } = TestCluster.Create(3, Volumes, nodeExtra: "write_cache = \"8MiB\"");

    public async Task InitializeAsync()
    {
        if (Prerequisite.Which("qemu-system-x86_64") is null && !Prerequisite.InCi) return;
        await GuestImageCache.LinkIntoAsync(Cluster.Home);
        // Cached writes stay cached until flushed (not written back after 1 s), so the tests see who writes them back.
        await Cluster.UpAsync(new Dictionary<string, string> { ["FABRIC_WRITE_CACHE_AGE_MS"] = "600000" });
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
