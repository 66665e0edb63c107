using Fabric.Membership.Monitor;

namespace Fabric.Membership.Tests;

/// <summary>
/// What a monitor that may not take a change answers (MonitorService.NotActiveRefusal): a standby sends the client to
/// the active monitor; a monitor that names itself active without holding the role yet (or any more) sends it nowhere
/// and says "no monitor is active yet", the text MonitorClient retries on. A node's join once failed at start-up on a
/// refusal that named the refusing monitor itself as active and carried no redirect.
/// </summary>
public sealed class MonitorRefusalTests
{
    [Fact]
    public void A_standby_redirects_to_the_active_monitor()
    {
        var (detail, redirect) = MonitorService.NotActiveRefusal("m2", MonitorRole.Standby, "m1", "127.0.0.1:7000");
        Assert.Equal("monitor m2 is a standby: the active monitor is m1 at 127.0.0.1:7000", detail);
        Assert.Equal("127.0.0.1:7000", redirect);
    }

    [Theory]
    [InlineData(MonitorRole.Electing, "m1", "127.0.0.1:7000", "electing")] // names itself: becoming active
    [InlineData(MonitorRole.Standby, "m1", "127.0.0.1:7000", "a standby")] // names itself: just stepped down
    [InlineData(MonitorRole.Active, "m1", "127.0.0.1:7000", "starting")] // the role taken, its first map not loaded
    [InlineData(MonitorRole.Electing, "", "", "electing")]
    [InlineData(MonitorRole.Standby, "m3", "", "a standby")] // a leader whose address is not known
    public void A_monitor_that_knows_no_other_active_monitor_says_retry_and_redirects_nowhere(MonitorRole role, string activeName, string activeAddress, string what)
    {
        var (detail, redirect) = MonitorService.NotActiveRefusal("m1", role, activeName, activeAddress);
        Assert.Equal($"monitor m1 is {what}: no monitor is active yet; retry shortly", detail);
        Assert.Null(redirect);
    }
}
