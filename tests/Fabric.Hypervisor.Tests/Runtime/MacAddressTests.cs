using System.Text.RegularExpressions;
using Fabric.Hypervisor.Runtime;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Hypervisor.Tests.Runtime;

public class MacAddressTests
{
    [Fact]
    public void Derived_macs_are_stable_unicast_qemu_range_and_differ_by_nic()
    {
        Prop.ForAll<NonEmptyString, byte>((name, nic) =>
        {
            var a = MacAddress.Derive(name.Get, nic);
            return Regex.IsMatch(a, "^52:54:00(:[0-9a-f]{2}){3}$") && a == MacAddress.Derive(name.Get, nic);
        }).QuickCheckThrowOnFailure();
        Assert.NotEqual(MacAddress.Derive("vm1", 0), MacAddress.Derive("vm1", 1));
        Assert.NotEqual(MacAddress.Derive("vm1", 0), MacAddress.Derive("vm2", 0));
    }
}
