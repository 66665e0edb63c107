using System.Text;
using Fabric.Hypervisor.Guest;
using Fabric.Proto;

namespace Fabric.Hypervisor.Tests.Guest;

public class GuestCmdlineTests
{
    private static string Arg(string cmdline, string key) =>
        cmdline.Split(' ').Single(w => w.StartsWith($"fabric.{key}=", StringComparison.Ordinal))[($"fabric.{key}=").Length..];

    [Fact]
    public void Addresses_follow_nic_order_and_a_nic_without_one_is_a_dash()
    {
        var spec = new VmSpec { Name = "vm1" };
        spec.Nics.Add(new VmNic { Network = "a", Ip = "10.10.0.11/24" });
        spec.Nics.Add(new VmNic { Network = "b" });
        spec.Nics.Add(new VmNic { Network = "c", Ip = "10.30.0.11/24" });
        spec.Disks.Add(new VmDisk { Volume = "v" });
        var c = GuestCmdline.Compose(spec, new GuestCmdlineOptions { Gateway = "10.10.0.1", PowerOffWhenDone = true });
        Assert.StartsWith("console=ttyS0 quiet ", c);
        Assert.Equal("10.10.0.11/24,-,10.30.0.11/24", Arg(c, "ip"));
        Assert.Equal("10.10.0.1", Arg(c, "gw"));
        Assert.Equal("vm1", Arg(c, "hostname"));
        Assert.Equal("1", Arg(c, "disks"));
        Assert.Equal("1", Arg(c, "poweroff"));
    }

    [Fact]
    public void Workload_round_trips_through_base64()
    {
        var script = "i=0\nwhile [ $i -lt 3 ]; do echo \"tick $i\"; i=$((i+1)); done\n";
        var c = GuestCmdline.Compose(new VmSpec { Name = "w" }, new GuestCmdlineOptions { Workload = script });
        Assert.Equal(script, Encoding.UTF8.GetString(Convert.FromBase64String(Arg(c, "workload64"))));
        Assert.DoesNotContain("fabric.poweroff", c);
        Assert.DoesNotContain("fabric.ip", c);
    }

    [Fact]
    public void A_workload_too_long_for_the_kernel_is_refused_with_the_reason()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            GuestCmdline.Compose(new VmSpec { Name = "big" }, new GuestCmdlineOptions { Workload = new string('x', 2000) }));
        Assert.Contains("shorten the workload", e.Message);
    }
}
