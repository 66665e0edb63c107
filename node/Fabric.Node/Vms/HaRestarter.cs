using Fabric.Core.Map;
using Fabric.Core.Vm;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Vms;

/// <summary>
/// HA restarts: a VM with <c>ha = true</c>, wanted running, whose node the monitor declared down, is placed on
/// another node, after the dead node's identity is blocklisted and the locks it held for the VM's disks are
/// broken, all in one map transaction based on the epoch it was decided on.
/// </summary>
/// <remarks>
/// <code>
///   map: node n1 down (epoch E)   every node: am I the lowest-id node that is up? only that one decides
///   decider: tx(base_epoch = E) [ BlocklistAdd node.1.INC, VolumeLock break (each disk lock of node.1.INC),
///                                 VmUpdate node_id = VmPlacement's pick, state starting, reason "HA: ...", generation + 1 ]
///   chosen node's reconciler: placed here, new generation → boots it (the lock is free now)
/// </code>
/// Two deciders (a map that says different things on two nodes for a moment) cannot both restart a VM: the
/// transaction is refused unless the map is still at E, and the VM's generation is checked too. The dead node,
/// back with a new incarnation, starts nothing (the VM is placed elsewhere) and kills the QEMUs its earlier
/// process left. Its old identity stays blocklisted, so a node that was only cut off cannot write again.
/// </remarks>
public sealed class HaRestarter : IAsyncDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(2);

    private readonly MonitorClient _monitors;
    private readonly MapWatcher _maps;
    private readonly Func<uint> _nodeId;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private ITimer? _timer;

    public HaRestarter(MonitorClient monitors, MapWatcher maps, Func<uint> nodeId, ILogger log)
    {
        _monitors = monitors;
        _maps = maps;
        _nodeId = nodeId;
        _log = log;
    }

    public void Start(TimeProvider time)
    {
        _maps.MapChanged += OnMap;
        _loop = Task.Run(LoopAsync);
        _timer = time.CreateTimer(_ => Poke(), null, Period, Period);
    }

    private void OnMap(ClusterMap map) => Poke();

    private void Poke()
    {
        try
        {
            if (_signal.CurrentCount == 0) _signal.Release();
        }
        catch (SemaphoreFullException)
        {
        }
    }

    /// <summary>The deterministic decider: the up node with the lowest id.</summary>
    public static bool IsDecider(ClusterMap map, uint nodeId) =>
        map.Nodes.Where(n => n.State == NodeState.Up).Select(n => n.Id).DefaultIfEmpty(0u).Min() == nodeId && nodeId != 0;

    /// <summary>The transaction that restarts one VM of a dead node elsewhere, or null when there is nothing to do
    /// (or no node can take it: <paramref name="refusal"/> says why).</summary>
    public static MapTransaction? Plan(ClusterMap map, VmInfo vm, out string? refusal)
    {
        refusal = null;
        var dead = map.FindNode(vm.NodeId);
        if (!vm.Spec.Ha || !vm.WantRunning || dead is null || dead.State != NodeState.Down) return null;
        var spec = vm.Spec.Clone();
        spec.Node = "";
        var placement = VmPlacement.Choose(map, spec);
        if (placement.Node is null)
        {
            refusal = placement.Error;
            return null;
        }
        var identity = dead.Identity();
        var tx = new MapTransaction { BaseEpoch = map.Epoch, Reason = $"HA: restart VM {vm.Spec.Name} of down node {dead.Name} on {placement.Node.Name}" };
        tx.Changes.Add(new MapChange { BlocklistAdd = new BlocklistAdd { Identity = identity, Reason = $"node {dead.Name} declared down; its HA VMs restart elsewhere" } });
        foreach (var disk in vm.Spec.Disks.Where(d => !d.ReadOnly))
        {
            if (map.FindVolume(disk.Volume)?.Lock is { Owner.Length: > 0 } held && held.NodeId == dead.Id)
            {
                if (held.Owner != identity) tx.Changes.Add(new MapChange { BlocklistAdd = new BlocklistAdd { Identity = held.Owner, Reason = $"node {dead.Name} declared down" } });
                tx.Changes.Add(new MapChange { VolumeLock = new VolumeLockChange { Volume = disk.Volume, Op = "break", Owner = held.Owner } });
            }
        }
        tx.Changes.Add(new MapChange
        {
            VmUpdate = new VmUpdate
            {
                Name = vm.Spec.Name, Fields = { "node_id", "state", "migrating_to" }, NodeId = placement.Node.Id, MigratingTo = 0, State = VmState.Starting,
                StateReason = $"HA: restarted on {placement.Node.Name}: node {dead.Name} was declared down", ExpectGeneration = vm.Generation, BumpGeneration = true,
            },
        });
        return tx;
    }

    private async Task LoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _signal.WaitAsync(ct).ConfigureAwait(false);
                await PassAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                _log.LogError(e, "HA pass failed");
            }
        }
    }

    private async Task PassAsync(CancellationToken ct)
    {
        var map = _maps.Current;
        if (map is null || !IsDecider(map, _nodeId())) return;
        foreach (var vm in map.Vms)
        {
            var tx = Plan(map, vm, out var refusal);
            if (tx is null)
            {
                if (refusal is not null) _log.LogWarning("HA: VM {Vm} cannot restart elsewhere: {Error}", vm.Spec.Name, refusal);
                continue;
            }
            try
            {
                var reply = await _monitors.ProposeAsync(tx, ct).ConfigureAwait(false);
                _log.LogWarning("{Reason} (epoch {Epoch})", tx.Reason, reply.Epoch);
            }
            catch (RpcException e)
            {
                _log.LogInformation("HA: {Reason} not applied: {Error}", tx.Reason, e.Detail);
            }
            // One VM per map: the next pass decides on the new epoch.
            return;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _maps.MapChanged -= OnMap;
        if (_timer is not null) await _timer.DisposeAsync().ConfigureAwait(false);
        _stop.Cancel();
        if (_loop is not null) await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
