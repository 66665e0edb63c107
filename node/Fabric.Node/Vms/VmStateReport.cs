using Fabric.Proto;

namespace Fabric.Node.Vms;

/// <summary>
/// A VM state this node publishes in the map. <paramref name="Generation"/> is the run's generation: the
/// update applies only while the map still has it (a stale node cannot overwrite a newer run's state).
/// <paramref name="NoLongerWanted"/> also clears want_running (the VM stopped by itself or could not start:
/// the reconciler must not start it again until someone asks).
/// </summary>
public sealed record VmStateReport(string Name, ulong Generation, VmState State, string Reason, bool NoLongerWanted);
