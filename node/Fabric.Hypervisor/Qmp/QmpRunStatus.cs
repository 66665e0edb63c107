namespace Fabric.Hypervisor.Qmp;

/// <summary>The answer of query-status: QEMU's run state ("running", "paused", "inmigrate",
/// "postmigrate", "finish-migrate", "shutdown", "prelaunch", ...).</summary>
public readonly record struct QmpRunStatus(string Status, bool Running);
