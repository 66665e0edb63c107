using Fabric.Hypervisor.Guest;
using Fabric.Hypervisor.Qemu;
using Fabric.Hypervisor.Runtime;
using Fabric.Node.Vms;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Server;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Parts;

/// <summary>
/// The node's VMs: a <see cref="VmRuntime"/> (one QEMU per VM, disks from the block part, NICs on the
/// switch) driven by a <see cref="VmReconciler"/> that follows the cluster map, and the VmAgent service
/// for what must run on the VM's own node (stop now, reboot, pause, resume, status, console).
/// </summary>
/// <remarks>
/// Images: a VM of <c>image = "tiny"</c> boots $FABRIC_HOME/images/tiny, built on first use. Accelerator
/// probe results are shared by the nodes of one machine ($FABRIC_HOME/accel). On start the node kills QEMUs
/// an earlier process of it left behind; on stop it stops its VMs (they stay wanted in the map, so they start
/// again with the node).
/// </remarks>
public sealed class HypervisorPart : INodePart
{
    private NodeContext? _node;
    private ILogger? _log;
    private VmRuntime? _runtime;
    private VmReconciler? _reconciler;
    private VmStateReporter? _reporter;
    private VmMigrations? _migrations;
    private HaRestarter? _ha;
    private string? _unavailable;
    private string _state = "starting";
    private string _detail = "";

    public string Name => "hypervisor";

    public VmRuntime? Runtime => _runtime;

    public void BindServices(RpcServerBuilder server)
    {
        server.AddService(VmAgentService.Descriptor, binder => VmAgentService.Bind(binder, () => _runtime is { } r && _node is { } n
            ? (r, n.Node.Name)
            : throw Unavailable(), () => _migrations ?? throw Unavailable()));
    }

    private RpcException Unavailable() => new(StatusCode.Unavailable, $"the hypervisor part of this node is {_state}{(_detail.Length > 0 ? ": " + _detail : "")}");

    public VmMigrations? Migrations => _migrations;

    public Task StartAsync(NodeContext node, CancellationToken cancellationToken)
    {
        _node = node;
        _log = node.LoggerFactory.CreateLogger("Fabric.Hypervisor");
        var disks = node.VmDisks;
        if (disks is null)
        {
            _state = "failed";
            _detail = "the block part did not start, so there are no disks for VMs";
            throw new InvalidOperationException(_detail);
        }
        var vmsDir = Path.Combine(node.RunDir, "vms");
        OrphanQemus.Kill(vmsDir, _log);
        _unavailable = QemuInstalled() ? null : $"{QemuCommandLine.DefaultBinary} is not installed (apt-get install qemu-system-x86 qemu-utils)";
        var resolver = new VmSpecResolver(node.Home, _log);
        var log = _log;
        VmReconciler? reconciler = null;
        _runtime = new VmRuntime(new VmRuntimeOptions
        {
            RunDirectory = vmsDir,
            DefaultGuestImage = GuestImage.TryOpen(Path.Combine(resolver.ImagesDirectory, VmSpecResolver.BuildableImage)),
            AccelCacheFile = Path.Combine(node.Home, "accel"),
            PreallocateMemory = node.Node.VmMemoryPrealloc,
            RestartDecider = (change, _) => ValueTask.FromResult(reconciler?.ShouldRestart(change.Name) ?? false),
            TimeProvider = node.Time,
            Log = line => log.LogInformation("{Line}", line),
        }, disks, new NodeSwitchPorts(() => node.SwitchPorts));
        _reporter = new VmStateReporter(node.Monitors, node.Maps, () => node.NodeId, _log);
        reconciler = new VmReconciler(node.Maps, () => node.NodeId, _runtime, resolver, _reporter, () => _unavailable, _log);
        _reconciler = reconciler;
        _migrations = new VmMigrations(node.Monitors, node.Maps, () => (node.NodeId, node.Membership.Incarnation), node.Node.Name, node.Node.Data.ToString(),
            _runtime, reconciler, () => node.VolumeLocks, _log);
        reconciler.Start(node.Time);
        _ha = new HaRestarter(node.Monitors, node.Maps, () => node.NodeId, _log);
        _ha.Start(node.Time);
        _state = _unavailable is null ? "running" : "disabled";
        _detail = _unavailable ?? $"VMs in {vmsDir}";
        return Task.CompletedTask;
    }

    private static bool QemuInstalled() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, QemuCommandLine.DefaultBinary)));

    public SubsystemStatus Status
    {
        get
        {
            var detail = _detail;
            if (_runtime is { } runtime && _unavailable is null)
            {
                var vms = runtime.List();
                detail = vms.Count == 0 ? "no VMs" : string.Join(", ", vms.Select(v => $"{v.Name} {Fabric.Core.Map.MapLookup.StateText(v.State)}"));
            }
            return new SubsystemStatus { Name = Name, State = _state, Detail = detail };
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_ha is not null) await _ha.DisposeAsync().ConfigureAwait(false);
        if (_reconciler is not null) await _reconciler.StopReconcilingAsync().ConfigureAwait(false);
        if (_runtime is not null) await _runtime.DisposeAsync().ConfigureAwait(false);
        if (_reconciler is not null) await _reconciler.DisposeAsync().ConfigureAwait(false);
        if (_reporter is not null) await _reporter.DisposeAsync().ConfigureAwait(false);
    }
}
