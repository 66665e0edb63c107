using Fabric.Config.Loading;
using Fabric.Config.Plan;
using Fabric.Membership.Client;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>
/// Puts a config's [[vm]] tables into the map as `fabric up` plans them, but only defines them: they stay
/// "defined", never started, so no hypervisor boots them and their switch ports are the tests' to attach.
/// </summary>
public static class MapVms
{
    /// <summary>Plans the VMs of <paramref name="configPath"/> against the newest map and proposes them; returns the new epoch.</summary>
    public static async Task<ulong> DefineAsync(string configPath, MonitorClient monitors)
    {
        var config = ClusterConfigLoader.Load(configPath).GetConfigOrThrow();
        var map = await monitors.GetLatestMapAsync(CancellationToken.None);
        var plan = ConfigPlanner.Plan(config, map, new PlanScope { Kinds = PlanKinds.Vms });
        Assert.False(plan.HasErrors, string.Join("; ", plan.Errors));
        var reply = await monitors.ProposeAsync(plan.ToTransaction(Guid.NewGuid().ToString("N"), "test: define VMs"), CancellationToken.None);
        return reply.Epoch;
    }
}
