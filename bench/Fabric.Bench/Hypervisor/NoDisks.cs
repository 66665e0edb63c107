using Fabric.Core.Net;
using Fabric.Core.Vm;

namespace Fabric.Bench.Hypervisor;

/// <summary>The benchmarks' guests have neither disks nor NICs: these answer the runtime's calls trivially.</summary>
internal sealed class NoDisks : IVmDisks, ISwitchPorts
{
    public ValueTask<DiskExportResult> ExportAsync(DiskExportRequest request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new DiskExportResult(null, null, "the benchmark has no block backend"));
    public ValueTask<string?> AcquireLockAsync(string exportId, CancellationToken cancellationToken) => ValueTask.FromResult<string?>(null);
    public ValueTask<string?> FlushAndReleaseAsync(string exportId, CancellationToken cancellationToken) => ValueTask.FromResult<string?>(null);
    public ValueTask RemoveAsync(string exportId, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    public ValueTask<PortAttachResult> AttachStreamPortAsync(VmPortSpec spec, string socketPath, bool active, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new PortAttachResult(false, "the benchmark has no switch"));
    public ValueTask ActivatePortAsync(string portName, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    public ValueTask DetachPortAsync(string portName, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
