using Fabric.Proto;

namespace Fabric.Hypervisor.Runtime;

/// <summary>A VM on this node changed state; the node publishes it in the cluster map.</summary>
/// <param name="Reason">Why, in words ("started", "guest powered off", "QEMU exit code 1: ...").</param>
/// <param name="Exit">How QEMU ended, for stopped and crashed VMs.</param>
/// <param name="MigratedAway">The VM left this node by live migration (it runs elsewhere now).</param>
public sealed record VmStateChange(string Name, VmState State, string Reason, DateTimeOffset At, Qemu.QemuExit? Exit = null, bool MigratedAway = false);
