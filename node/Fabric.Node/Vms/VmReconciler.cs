using Fabric.Core.Map;
using Fabric.Hypervisor.Runtime;
using Fabric.Membership.Client;
using Fabric.Proto;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Vms;

/// <summary>
/// Makes this node's VMs follow the cluster map. The map says what should run where (node_id,
/// want_running, generation); the runtime says what runs here; the reconciler closes the gap, one VM
/// operation at a time per VM, and never blocks on one VM while another waits.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><b>Start</b> a VM placed here with want_running, not live here, whose generation this process has
/// not tried yet (a generation is one request to run: `fabric vm start` bumps it). After a node restart every
/// wanted VM placed here starts again, except one the map shows crashed (its restart policy said no).</item>
/// <item><b>Stop</b> a live VM the map no longer wants here (want_running false, placed elsewhere, deleted),
/// unless a migration moves it (migrating_to set, or the runtime says migrating).</item>
/// <item><b>Report</b> every state change of the runtime (<see cref="VmStateReporter"/>): a VM that stopped by
/// itself (guest power-off) or failed to start is also marked not wanted, so it is not started again in a
/// loop; a crash keeps want_running (the restart policy decides, through <see cref="ShouldRestart"/>).</item>
/// <item>Console logs and run directories of VMs deleted from the map are removed.</item>
/// </list>
/// Runs on every map change, every state change, and every few seconds as a safety net.
/// </remarks>
public sealed class VmReconciler : IAsyncDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    private readonly MapWatcher _maps;
    private readonly Func<uint> _nodeId;
    private readonly VmRuntime _runtime;
    private readonly VmSpecResolver _resolver;
    private readonly VmStateReporter _reporter;
    private readonly ILogger _log;
    private readonly Func<string?> _unavailable;
    private readonly object _gate = new();
    private readonly Dictionary<string, ulong> _attempted = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _runs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _busy = new(StringComparer.Ordinal);
    // Incoming migrations not completed: their QEMU ending is the migration's failure, not the VM stopping.
    private readonly HashSet<string> _incoming = new(StringComparer.Ordinal);
    // Why a VM runs here when another node decided it (an HA restart): kept as its running reason.
    private readonly Dictionary<string, string> _placedBecause = new(StringComparer.Ordinal);
    private readonly List<Task> _operations = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private ITimer? _timer;

    /// <param name="unavailable">Why this node cannot run VMs now (QEMU missing), or null.</param>
    public VmReconciler(MapWatcher maps, Func<uint> nodeId, VmRuntime runtime, VmSpecResolver resolver, VmStateReporter reporter, Func<string?> unavailable, ILogger log)
    {
        _maps = maps;
        _nodeId = nodeId;
        _runtime = runtime;
        _resolver = resolver;
        _reporter = reporter;
        _unavailable = unavailable;
        _log = log;
    }

    public void Start(TimeProvider time)
    {
        _runtime.StateChanged += OnStateChanged;
        _maps.MapChanged += OnMap;
        _loop = Task.Run(LoopAsync);
        _timer = time.CreateTimer(_ => Poke(), null, Period, Period);
        Poke();
    }

    /// <summary>Asks for a reconcile pass soon (coalesced).</summary>
    public void Poke()
    {
        try
        {
            if (_signal.CurrentCount == 0) _signal.Release();
        }
        catch (SemaphoreFullException)
        {
        }
    }

    private void OnMap(ClusterMap map) => Poke();

    /// <summary>The restart policy's question to the node: is a crashed VM still this node's to run?</summary>
    public bool ShouldRestart(string name)
    {
        var vm = _maps.Current?.FindVm(name);
        lock (_gate)
        {
            return vm is not null && vm.NodeId == _nodeId() && vm.WantRunning && vm.MigratingTo == 0
                && _runs.TryGetValue(name, out var generation) && generation == vm.Generation;
        }
    }

    /// <summary>
    /// A live migration prepares <paramref name="name"/> here at <paramref name="generation"/>: that generation is
    /// this node's run (its reports carry it) and is never started cold by the reconciler.
    /// </summary>
    public void AdoptIncoming(string name, ulong generation)
    {
        AdoptGeneration(name, generation);
        lock (_gate) _incoming.Add(name);
    }

    /// <summary>The incoming VM runs here: its state changes are reported like any VM's.</summary>
    public void IncomingCompleted(string name)
    {
        lock (_gate) _incoming.Remove(name);
    }

    /// <summary>The VM that runs here now belongs to <paramref name="generation"/> (a migration moved it back).</summary>
    public void AdoptGeneration(string name, ulong generation)
    {
        lock (_gate)
        {
            _attempted[name] = generation;
            _runs[name] = generation;
        }
    }

    /// <summary>Lets the reconciler start <paramref name="name"/>'s current generation here again (an incoming
    /// migration that could not complete after the switch-over).</summary>
    public void ForgetAttempt(string name)
    {
        lock (_gate) _attempted.Remove(name);
        Poke();
    }

    private void OnStateChanged(VmStateChange change)
    {
        bool incoming;
        lock (_gate) incoming = _incoming.Contains(change.Name) && change.State is VmState.Stopped or VmState.Crashed;
        if (!change.MigratedAway && !incoming)
        {
            ulong generation;
            string reason;
            lock (_gate)
            {
                generation = _runs.GetValueOrDefault(change.Name);
                reason = change.State == VmState.Running && _placedBecause.TryGetValue(change.Name, out var because) ? because : change.Reason;
            }
            // A VM stopped because its node shuts down stays wanted: the node starts it again when it is back.
            var report = _shuttingDown
                ? new VmStateReport(change.Name, generation, change.State, change.State == VmState.Stopped ? "stopped: its node shut down" : change.Reason, NoLongerWanted: false)
                : new VmStateReport(change.Name, generation, change.State, reason, NoLongerWanted: change.State == VmState.Stopped);
            _reporter.Enqueue(report);
        }
        Poke();
    }

    private volatile bool _shuttingDown;

    /// <summary>
    /// Stops reconciling (no more starts or stops) and waits for operations in flight; state changes are still
    /// reported, as a node shutdown's (the VMs stay wanted). Call before disposing the runtime.
    /// </summary>
    public async Task StopReconcilingAsync()
    {
        _shuttingDown = true;
        _maps.MapChanged -= OnMap;
        if (_timer is not null) await _timer.DisposeAsync().ConfigureAwait(false);
        _stop.Cancel();
        if (_loop is not null) await _loop.ConfigureAwait(false);
        Task[] running;
        lock (_operations) running = _operations.ToArray();
        try
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task LoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _signal.WaitAsync(ct).ConfigureAwait(false);
                if (_maps.Current is { } map) Reconcile(map);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                _log.LogError(e, "VM reconcile pass failed");
            }
        }
    }

    private void Reconcile(ClusterMap map)
    {
        var me = _nodeId();
        foreach (var vm in map.Vms)
        {
            var name = vm.Spec.Name;
            if (vm.NodeId != me || !vm.WantRunning || vm.MigratingTo != 0) continue;
            if (_runtime.Find(name) is not null) continue;
            lock (_gate)
            {
                if (_busy.Contains(name)) continue;
                if (_attempted.TryGetValue(name, out var tried) && tried == vm.Generation) continue;
                if (!_attempted.ContainsKey(name) && vm.State == VmState.Crashed) continue;
                _attempted[name] = vm.Generation;
                _busy.Add(name);
            }
            Run(name, () => StartAsync(vm.Clone()));
        }
        foreach (var status in _runtime.List())
        {
            var vm = map.FindVm(status.Name);
            var wanted = vm is not null && vm.NodeId == me && vm.WantRunning;
            if (wanted || status.State == VmState.Migrating || vm is { MigratingTo: not 0 }) continue;
            lock (_gate)
            {
                if (!_busy.Add(status.Name)) continue;
            }
            var deleted = vm is null;
            Run(status.Name, () => StopAsync(status.Name, deleted));
        }
        RemoveLeftovers(map);
    }

    private void Run(string name, Func<Task> operation)
    {
        var task = Task.Run(async () =>
        {
            try
            {
                await operation().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _log.LogError(e, "VM {Vm}: operation failed", name);
            }
            finally
            {
                lock (_gate) _busy.Remove(name);
                Poke();
            }
        });
        lock (_operations)
        {
            _operations.RemoveAll(t => t.IsCompleted);
            _operations.Add(task);
        }
    }

    private async Task StartAsync(VmInfo vm)
    {
        var name = vm.Spec.Name;
        var ct = _stop.Token;
        if (_unavailable() is { } why)
        {
            _reporter.Enqueue(new VmStateReport(name, vm.Generation, VmState.Stopped, $"cannot start on this node: {why}", NoLongerWanted: true));
            return;
        }
        var (spec, error) = await _resolver.ResolveAsync(vm.Spec, ct).ConfigureAwait(false);
        if (spec is null)
        {
            _log.LogWarning("VM {Vm}: {Error}", name, error);
            _reporter.Enqueue(new VmStateReport(name, vm.Generation, VmState.Stopped, error!, NoLongerWanted: true));
            return;
        }
        lock (_gate)
        {
            _runs[name] = vm.Generation;
            _incoming.Remove(name);
            if (vm.StateReason.StartsWith("HA:", StringComparison.Ordinal)) _placedBecause[name] = vm.StateReason;
            else _placedBecause.Remove(name);
        }
        _log.LogInformation("VM {Vm}: starting generation {Generation}", name, vm.Generation);
        var result = await _runtime.StartAsync(spec, new VmStartOptions { Generation = vm.Generation }, ct).ConfigureAwait(false);
        if (!result.Ok && result.Code != VmErrorCode.AlreadyExists && !_shuttingDown)
        {
            _log.LogWarning("VM {Vm}: start failed: {Error}", name, result.Error);
            _reporter.Enqueue(new VmStateReport(name, vm.Generation, VmState.Stopped, $"start failed: {result.Error}", NoLongerWanted: true));
        }
    }

    private async Task StopAsync(string name, bool deleted)
    {
        _log.LogInformation("VM {Vm}: stopping ({Why})", name, deleted ? "deleted from the map" : "no longer wanted on this node");
        var result = await _runtime.StopAsync(name, null, _stop.Token).ConfigureAwait(false);
        if (!result.Ok && result.Code != VmErrorCode.NotFound) _log.LogWarning("VM {Vm}: stop failed: {Error}", name, result.Error);
        if (deleted) await _runtime.DeleteAsync(name, _stop.Token).ConfigureAwait(false);
    }

    private void RemoveLeftovers(ClusterMap map)
    {
        var dir = _runtime.Options.RunDirectory;
        if (!Directory.Exists(dir)) return;
        foreach (var vmDir in Directory.EnumerateDirectories(dir))
        {
            var name = Path.GetFileName(vmDir);
            if (map.FindVm(name) is not null || _runtime.Find(name) is not null) continue;
            lock (_gate)
            {
                if (_busy.Contains(name)) continue;
                _attempted.Remove(name);
                _runs.Remove(name);
            }
            try
            {
                Directory.Delete(vmDir, recursive: true);
            }
            catch (IOException e)
            {
                _log.LogWarning("VM {Vm}: removing {Directory}: {Error}", name, vmDir, e.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_shuttingDown) await StopReconcilingAsync().ConfigureAwait(false);
        _runtime.StateChanged -= OnStateChanged;
        _stop.Dispose();
    }
}
