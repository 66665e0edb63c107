using Fabric.Proto;

namespace Fabric.Hypervisor.Runtime;

/// <summary>A snapshot of one VM on this node.</summary>
public sealed record VmStatus(
    string Name,
    VmState State,
    string Reason,
    int? Pid,
    string Accel,
    string RunDirectory,
    string ConsoleLogPath,
    string QmpSocketPath,
    ulong Generation,
    DateTimeOffset? StartedAt,
    int Restarts);
