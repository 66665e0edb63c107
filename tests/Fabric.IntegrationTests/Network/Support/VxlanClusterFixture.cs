using Fabric.IntegrationTests.Support;
using Fabric.Membership.Client;
using Fabric.Proto;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>
/// One real two-node cluster (`fabric up`, loopback addresses) for the network tests: three networks
/// that must never see each other's frames — "blue" (VXLAN, VNI 101, with ACL rules), "red" (VXLAN,
/// VNI 102) and "green" (VLAN 101: the same number as blue's VNI) — and VMs defined in the map on both
/// nodes whose NICs the tests play with <see cref="FakeStreamNic"/>s attached through SwitchAdmin.
/// </summary>
public sealed class VxlanClusterFixture : IAsyncLifetime
{
    public static readonly TestVm B1 = new("b1", "n1", "blue", "52:54:00:0b:00:01", "10.1.0.11");
    public static readonly TestVm B2 = new("b2", "n2", "blue", "52:54:00:0b:00:02", "10.1.0.12");
    public static readonly TestVm M1 = new("m1", "n1", "blue", "52:54:00:0b:00:03", "10.1.0.13");
    public static readonly TestVm R1 = new("r1", "n1", "red", "52:54:00:0c:00:01", "10.2.0.11");
    public static readonly TestVm R2 = new("r2", "n2", "red", "52:54:00:0c:00:02", "10.2.0.12");
    public static readonly TestVm G1 = new("g1", "n1", "green", "52:54:00:0d:00:01", "10.3.0.11");
    public static readonly TestVm G2 = new("g2", "n2", "green", "52:54:00:0d:00:02", "10.3.0.12");
    public static readonly IReadOnlyList<TestVm> Vms = [B1, B2, M1, R1, R2, G1, G2];

    /// <summary>The networks of the config; `net apply` tests re-apply this text (plus or minus a network).</summary>
    public const string Networks = """

        [[network]]
        name = "blue"
        kind = "vxlan"
        vni = 101
        subnet = "10.1.0.0/24"

          [[network.acl]]
          action = "allow"
          protocol = "icmp"
          priority = 100

          [[network.acl]]
          action = "deny"
          direction = "in"
          protocol = "tcp"
          port = "23"
          priority = 90

        [[network]]
        name = "red"
        kind = "vxlan"
        vni = 102
        subnet = "10.2.0.0/24"

        [[network]]
        name = "green"
        kind = "vlan"
        vlan = 101
        subnet = "10.3.0.0/24"

        """;

    private readonly Dictionary<string, SwitchAdmin> _admins = new(StringComparer.Ordinal);

    public TestCluster Cluster { get; private set; } = null!;

    public SwitchAdmin Admin(string node)
    {
        if (!_admins.TryGetValue(node, out var admin)) _admins[node] = admin = new SwitchAdmin(node, Cluster.Grpc(node));
        return admin;
    }

    public async Task InitializeAsync()
    {
        // `fabric up` gets the networks; the VMs are only defined afterwards (up would start them).
        Cluster = TestCluster.Create(2, Networks);
        await Cluster.UpAsync();
        var withVms = Path.Combine(Cluster.Home, "with-vms.toml");
        await File.WriteAllTextAsync(withVms, await File.ReadAllTextAsync(Cluster.ConfigPath) + TestVm.Toml(Vms));
        using var monitors = new MonitorClient([Cluster.Grpc("n1")]);
        var epoch = await MapVms.DefineAsync(withVms, monitors);
        foreach (var node in Cluster.Nodes)
            await Wait.UntilAsync(() => Admin(node).NetworksAsync(), r => r.MapEpoch >= epoch, TimeSpan.FromSeconds(20), $"{node}'s switch to apply epoch {epoch}");
    }

    /// <summary>Plays <paramref name="vm"/>'s NIC on <paramref name="node"/> (default: the VM's node) and waits until the switch connected.</summary>
    public async Task<AttachedNic> AttachAsync(TestVm vm, string? node = null, bool active = true)
    {
        node ??= vm.Node;
        var nic = new FakeStreamNic(vm.Port, Path.Combine(Cluster.Home, $"{vm.Port}.{node}.sock"), vm.MacAddress, vm.Address);
        try
        {
            await Admin(node).AttachAsync(new AttachPortRequest
            {
                Port = vm.Port,
                Network = vm.Network,
                Kind = "stream",
                SocketPath = nic.SocketPath,
                Mac = vm.Mac,
                Ip = vm.Cidr,
                Inactive = !active,
            });
            await nic.WaitConnectedAsync(TimeSpan.FromSeconds(10));
        }
        catch
        {
            await nic.DisposeAsync();
            throw;
        }
        return new AttachedNic(vm, Admin(node), nic);
    }

    public async Task DisposeAsync()
    {
        foreach (var admin in _admins.Values) admin.Dispose();
        if (Cluster is not null) await Cluster.DisposeAsync();
    }
}
