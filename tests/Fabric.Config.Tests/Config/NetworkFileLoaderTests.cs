using Fabric.Config.Loading;

namespace Fabric.Config.Tests.Config;

/// <summary>The file `fabric net apply` takes: [[network]] tables only, or a whole cluster config.</summary>
public sealed class NetworkFileLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-netfile-").FullName;

    private string Write(string text)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".toml");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_networks_file_needs_no_cluster_or_nodes()
    {
        var result = NetworkFileLoader.Load(Write("""
            [[network]]
            name = "lan"
            kind = "vlan"
            vlan = 100
            subnet = "10.20.0.0/24"

            [[network]]
            name = "overlay"
            kind = "vxlan"
            vni = 5001
            subnet = "10.10.0.0/24"
            """));
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        Assert.Equal(["lan", "overlay"], result.Config!.Networks.Select(n => n.Name));
        Assert.Empty(result.Config.Nodes);
        Assert.Equal("", result.Config.Cluster.Name);
    }

    [Fact]
    public void Network_rules_still_hold_with_their_locations()
    {
        var result = NetworkFileLoader.Load(Write("""
            [[network]]
            name = "a"
            kind = "vxlan"
            vni = 7
            subnet = "10.1.0.0/24"

            [[network]]
            name = "b"
            kind = "vxlan"
            vni = 7
            subnet = "10.2.0.0/24"
            """));
        Assert.False(result.Succeeded);
        Assert.Contains("VNI 7 is already used by network 'a'", Assert.Single(result.Errors).Message);

        var bad = NetworkFileLoader.Load(Write("""
            [[network]]
            name = "a"
            kind = "vxlan"
            vni = 7
            subnet = "10.1.0.0/24"
            mtu = "big"
            """));
        var error = Assert.Single(bad.Errors);
        Assert.Equal("network[0].mtu", error.KeyPath);
        Assert.Equal(6, error.Location.Line);
    }

    [Fact]
    public void Other_tables_are_refused_by_name()
    {
        var result = NetworkFileLoader.Load(Write("""
            [[network]]
            name = "a"
            kind = "vxlan"
            vni = 7
            subnet = "10.1.0.0/24"

            [[vm]]
            name = "x"
            """));
        var error = Assert.Single(result.Errors);
        Assert.Equal("vm", error.KeyPath);
        Assert.Contains("does not belong in a networks file", error.Message);
        Assert.Equal(7, error.Location.Line);
    }

    [Fact]
    public void A_whole_cluster_config_loads_as_one()
    {
        Assert.NotNull(TestEnvironment.RepoRoot);
        var result = NetworkFileLoader.Load(Path.Combine(TestEnvironment.RepoRoot, "cluster.example.toml"));
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        Assert.Equal(["lan", "overlay"], result.Config!.Networks.Select(n => n.Name));
        Assert.Equal("example", result.Config.Cluster.Name);
    }

    [Fact]
    public void A_missing_file_is_an_error_not_an_exception()
    {
        var result = NetworkFileLoader.Load(Path.Combine(_dir, "nope.toml"));
        Assert.Contains("cannot read the file", Assert.Single(result.Errors).Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
