using System.Globalization;
using System.Text;
using Fabric.Switch.Packets;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>
/// A VM of a test cluster's config with one NIC: defined in the map (so every switch knows its MAC and
/// IP) but never booted; the test plays its NIC with a <see cref="FakeStreamNic"/>. The switch port is
/// "NAME-0", the hypervisor's name for a VM's first NIC.
/// </summary>
public sealed record TestVm(string Name, string Node, string Network, string Mac, string Ip, int PrefixLength = 24)
{
    public string Port => Name + "-0";

    public MacAddress MacAddress => MacAddress.Parse(Mac);

    public uint Address => IpBits.ParseIpv4(Ip);

    public string Cidr => $"{Ip}/{PrefixLength}";

    /// <summary>The [[vm]] table (no image, kernel or disk: it is never started).</summary>
    public string Toml() => string.Create(CultureInfo.InvariantCulture, $"""

        [[vm]]
        name = "{Name}"
        node = "{Node}"
        memory = "64MiB"
        kernel = "/nonexistent/never-booted"

          [[vm.nic]]
          network = "{Network}"
          mac = "{Mac}"
          ip = "{Cidr}"

        """);

    public static string Toml(IEnumerable<TestVm> vms) => vms.Aggregate(new StringBuilder(), (b, vm) => b.Append(vm.Toml())).ToString();
}
