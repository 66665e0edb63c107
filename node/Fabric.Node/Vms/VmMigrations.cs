using System.Threading.Channels;
using Fabric.Core.Map;
using Fabric.Core.Vm;
using Fabric.Hypervisor.Migration;
using Fabric.Hypervisor.Runtime;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Vms;

/// <summary>
/// Live migration between nodes, both ends: this node as the source (<see cref="MigrateAsync"/>, run for
/// `fabric vm migrate`, with progress to the caller) and as the destination (<see cref="PrepareIncomingAsync"/>,
/// <see cref="SwitchoverIncomingAsync"/>, <see cref="AbortIncomingAsync"/>, called by the source).
/// </summary>
/// <remarks>
/// <code>
///   source (this)                                   monitor                      destination
///   pre-checks: VM live here, destination up with the memory, networks exist, this node holds every lock
///   VmUpdate migrating_to = D (expect g) ─────────────>│
///   PrepareIncoming(spec, g+1) ───────────────────────────────────────────────────> QEMU -incoming, ports inactive
///   QEMU migrate (pause-before-switchover) ........ RAM passes, progress to the CLI ......>
///   pre-switchover (guest stopped): flush every disk; the lock stays in the map (armed handover)
///   ONE transaction: transfer every lock S→D, VmUpdate node_id = D, migrating_to = 0, generation g+1 (expect g)
///   SwitchoverIncoming(epoch) ────────────────────────────────────────────────────> map at epoch: adopt locks, ports on
///   migrate-continue; completed: the source QEMU quits                              guest runs (reports running, g+1)
/// </code>
/// Failure paths, each leaving one running copy holding the locks: a refusal or a failure before the
/// switch-over transaction keeps everything on the source (migrating_to cleared, destination aborted); a
/// destination that fails its switch-over step, or dies before QEMU completes, gets the transaction undone in
/// one more transaction (locks and VM back, generation g+2) and the guest resumes here. Once the switch-over
/// transaction is in and QEMU was told to continue, the VM belongs to the destination even if this node dies.
/// </remarks>
public sealed class VmMigrations
{
    private const int RecentKept = 32;

    private readonly MonitorClient _monitors;
    private readonly MapWatcher _maps;
    private readonly Func<(uint NodeId, ulong Incarnation)> _self;
    private readonly string _nodeName;
    private readonly string _listenHost;
    private readonly VmRuntime _runtime;
    private readonly VmReconciler _reconciler;
    private readonly Func<MapVolumeLocks?> _locks;
    private readonly ILogger _log;
    private readonly object _gate = new();
    private readonly Dictionary<string, Outgoing> _running = new(StringComparer.Ordinal);
    private readonly LinkedList<MigrationRecord> _recent = new();
    private readonly Dictionary<string, Incoming> _incoming = new(StringComparer.Ordinal);

    private sealed class Outgoing(MigrationRecord record)
    {
        public MigrationRecord Record { get; } = record;
        public CancellationTokenSource Cancel { get; } = new();
    }

    // VM name → generation of the last incoming migration that ended with the guest running here: a late
    // AbortIncoming for it must hear "running", never "ok" (the source would resume a second copy).
    private readonly Dictionary<string, ulong> _landed = new();

    private sealed class Incoming(MigrationDestination destination, ulong generation, string source)
    {
        public MigrationDestination Destination { get; } = destination;
        public ulong Generation { get; } = generation;
        public string Source { get; } = source;
        public bool SwitchedOver { get; set; }
        public bool Ended { get; set; }
    }

    public VmMigrations(MonitorClient monitors, MapWatcher maps, Func<(uint NodeId, ulong Incarnation)> self, string nodeName, string listenHost,
        VmRuntime runtime, VmReconciler reconciler, Func<MapVolumeLocks?> locks, ILogger log)
    {
        _monitors = monitors;
        _maps = maps;
        _self = self;
        _nodeName = nodeName;
        _listenHost = listenHost;
        _runtime = runtime;
        _reconciler = reconciler;
        _locks = locks;
        _log = log;
    }

    // ---- source ----

    /// <summary>Running migrations first, then recent ones (newest first).</summary>
    public IReadOnlyList<MigrationRecord> List()
    {
        lock (_gate)
        {
            return _running.Values.Select(o => o.Record.Clone()).Concat(_recent.Select(r => r.Clone())).ToList();
        }
    }

    public VmOpReply Cancel(string name)
    {
        lock (_gate)
        {
            if (!_running.TryGetValue(name, out var outgoing))
            {
                return new VmOpReply { Ok = false, Code = "not_found", Error = $"no migration of VM {name} is running on node {_nodeName}" };
            }
            outgoing.Cancel.Cancel();
            return new VmOpReply { Ok = true, State = VmState.Migrating };
        }
    }

    /// <summary>
    /// Runs the migration of <paramref name="request"/>'s VM from this node, writing progress and the final report
    /// to <paramref name="stream"/>. The migration does not depend on the caller staying connected: a caller that
    /// goes away stops getting events; `CancelMigration` cancels.
    /// </summary>
    public async Task MigrateAsync(MigrateRequest request, IServerStreamWriter<MigrationEvent> stream, CancellationToken cancellationToken)
    {
        var events = Channel.CreateUnbounded<MigrationEvent>(new UnboundedChannelOptions { SingleReader = true });
        var run = Task.Run(() => RunAsync(request, events.Writer));
        try
        {
            await foreach (var e in events.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await stream.WriteAsync(e, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _log.LogInformation("VM {Vm}: the caller of the migration went away; it continues", request.Name);
            return;
        }
        await run.ConfigureAwait(false);
    }

    private async Task RunAsync(MigrateRequest request, ChannelWriter<MigrationEvent> events)
    {
        try
        {
            await RunCoreAsync(request, events).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _log.LogError(e, "VM {Vm}: migration failed", request.Name);
            events.TryWrite(new MigrationEvent { Name = request.Name, Phase = "report", Report = new MigrationReportInfo { Outcome = "failed", Error = e.Message, DowntimeMs = -1, Node = _nodeName } });
        }
        finally
        {
            events.TryComplete();
        }
    }

    private static MigrationEvent Refusal(MigrateRequest request, string error) =>
        new() { Name = request.Name, Phase = "report", Report = new MigrationReportInfo { Outcome = "refused", Error = error, DowntimeMs = -1 } };

    /// <summary>The destination: the one asked for, else the up node (not this one) with the most free memory.</summary>
    public static (NodeInfo? Node, string? Error) ChooseDestination(ClusterMap map, VmInfo vm, string requested)
    {
        if (requested.Length > 0)
        {
            if (map.FindNode(requested) is { } asked && asked.Id == vm.NodeId) return (null, $"VM {vm.Spec.Name} already runs on {requested}");
            var r = VmPlacement.Choose(map, vm.Spec, requested);
            return r.Node is null ? (null, r.Error) : (r.Node, null);
        }
        // The scheduler over the other nodes: the current node is taken out of the choice by marking it down.
        var others = map.Clone();
        foreach (var n in others.Nodes) if (n.Id == vm.NodeId) n.State = NodeState.Down;
        var spec = vm.Spec.Clone();
        spec.Node = "";
        var choice = VmPlacement.Choose(others, spec);
        return choice.Node is null ? (null, choice.Error) : (map.FindNode(choice.Node.Id), null);
    }

    private async Task RunCoreAsync(MigrateRequest request, ChannelWriter<MigrationEvent> events)
    {
        var name = request.Name;
        var (me, incarnation) = _self();
        var myIdentity = MapLookup.NodeIdentity(me, incarnation);
        var map = _maps.Current ?? throw new InvalidOperationException("the node has no map yet");
        var vm = map.FindVm(name);
        if (vm is null) { events.TryWrite(Refusal(request, $"VM {name} does not exist")); return; }
        if (vm.NodeId != me) { events.TryWrite(Refusal(request, $"VM {name} runs on node {map.FindNode(vm.NodeId)?.Name ?? "(none)"}, not {_nodeName}")); return; }
        var live = _runtime.Find(name);
        if (live is null || live.State is not (VmState.Running or VmState.Paused))
        {
            events.TryWrite(Refusal(request, $"VM {name} is {(live is null ? "not running" : live.State.StateText())} on {_nodeName}: only a running or paused VM migrates"));
            return;
        }
        var (dest, why) = ChooseDestination(map, vm, request.To);
        if (dest is null) { events.TryWrite(Refusal(request, why!)); return; }
        if (dest.Id == me) { events.TryWrite(Refusal(request, $"VM {name} already runs on {_nodeName}")); return; }
        var lockable = vm.Spec.Disks.Where(d => !d.ReadOnly).Select(d => d.Volume).ToList();
        foreach (var volume in lockable)
        {
            var held = map.FindVolume(volume)?.Lock;
            if (held is null || held.Owner != myIdentity)
            {
                events.TryWrite(Refusal(request, $"volume {volume} of VM {name} is locked by {(held is { Owner.Length: > 0 } ? held.Owner : "nobody")}, not by this node ({myIdentity}); the VM cannot hand it over"));
                return;
            }
        }
        var locks = _locks();
        if (lockable.Count > 0 && locks is null) { events.TryWrite(Refusal(request, "this node's volume locks are not available (block part)")); return; }

        var record = new MigrationRecord { Name = name, From = _nodeName, To = dest.Name, Reason = request.Reason.Length > 0 ? request.Reason : "operator", StartedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
        var outgoing = new Outgoing(record);
        lock (_gate)
        {
            if (_running.ContainsKey(name)) { events.TryWrite(Refusal(request, $"VM {name} is already migrating")); return; }
            _running[name] = outgoing;
        }
        var generation = vm.Generation;
        var destIdentity = dest.Identity();
        using var peer = new PeerVmAgent(dest);
        var prepared = false;
        MigrationReport? report = null;
        try
        {
            var planEpoch = await _monitors.ApplyAsync($"migrate VM {name} {_nodeName} -> {dest.Name}", CancellationToken.None,
                new MapChange { VmUpdate = new VmUpdate { Name = name, Fields = { "migrating_to" }, MigratingTo = dest.Id, ExpectGeneration = generation } }).ConfigureAwait(false);
            var prep = await peer.PrepareIncomingAsync(new PrepareIncomingRequest { Spec = live.Spec, Generation = generation + 1, Postcopy = request.Postcopy, Source = _nodeName, Epoch = planEpoch },
                outgoing.Cancel.Token).ConfigureAwait(false);
            if (!prep.Ok)
            {
                report = MigrationReport.Refused($"node {dest.Name} could not prepare: {prep.Error}");
                return;
            }
            prepared = true;
            events.TryWrite(new MigrationEvent { Name = name, From = _nodeName, To = dest.Name, Phase = "prepared", Message = prep.Uri });
            foreach (var volume in lockable) locks!.ArmHandover(volume, name);
            var switchedGeneration = generation;
            ulong switchEpoch = 0;
            var progress = new Progress(p =>
            {
                var info = ToProto(p);
                lock (_gate) record.Progress = info;
                events.TryWrite(new MigrationEvent { Name = name, From = _nodeName, To = dest.Name, Phase = "progress", Progress = info });
            });
            var migration = new MigrationRequest
            {
                Uri = prep.Uri,
                DestinationName = dest.Name,
                DowntimeLimitMs = request.DowntimeLimitMs > 0 ? request.DowntimeLimitMs : 300,
                BandwidthMiBps = request.BandwidthMibps > 0 ? request.BandwidthMibps : null,
                Postcopy = request.Postcopy,
                AutoConverge = request.AutoConverge,
                Switchover = async ct =>
                {
                    // The guest is paused from here on: every round trip counts as downtime, so only the map
                    // transaction runs here; the destination's takeover runs beside QEMU's final pass (Takeover).
                    var phase = System.Diagnostics.Stopwatch.StartNew();
                    // One transaction: the locks, the VM (and with it its ports: the switches follow node_id) move.
                    var tx = new MapTransaction { Reason = $"migrate VM {name}: switch-over {_nodeName} -> {dest.Name}" };
                    foreach (var volume in lockable)
                    {
                        tx.Changes.Add(new MapChange { VolumeLock = new VolumeLockChange { Volume = volume, Op = "transfer", Owner = myIdentity, NodeId = me, NewOwner = destIdentity, NewNodeId = dest.Id, Description = name } });
                    }
                    tx.Changes.Add(new MapChange { VmUpdate = new VmUpdate { Name = name, Fields = { "node_id", "migrating_to" }, NodeId = dest.Id, MigratingTo = 0, ExpectGeneration = generation, BumpGeneration = true } });
                    try
                    {
                        switchEpoch = (await _monitors.ProposeAsync(tx, CancellationToken.None).ConfigureAwait(false)).Epoch;
                    }
                    catch (RpcException e)
                    {
                        return $"the switch-over transaction was refused: {e.Detail}";
                    }
                    switchedGeneration = generation + 1;
                    _log.LogInformation("VM {Vm}: switch-over step: map transaction {Propose} ms", name, phase.ElapsedMilliseconds);
                    events.TryWrite(new MigrationEvent { Name = name, From = _nodeName, To = dest.Name, Phase = "switchover", Message = $"map epoch {switchEpoch}" });
                    return null;
                },
                Takeover = async (resume, ct) =>
                {
                    // A destination that died or lost its incoming QEMU makes SwitchoverIncoming fail (it checks its
                    // QEMU); the source then switches back (SwitchBack) and resumes the guest itself.
                    var phase = System.Diagnostics.Stopwatch.StartNew();
                    try
                    {
                        var reply = await peer.SwitchoverIncomingAsync(new IncomingRequest { Name = name, Generation = generation + 1, Epoch = switchEpoch, Resume = resume }, CancellationToken.None).ConfigureAwait(false);
                        _log.LogInformation("VM {Vm}: destination {Node} took over in {Take} ms", name, dest.Name, phase.ElapsedMilliseconds);
                        return reply.Ok ? null : $"node {dest.Name} could not take over: {reply.Error}";
                    }
                    catch (RpcException e)
                    {
                        return $"node {dest.Name} did not answer the switch-over: {e.Detail}";
                    }
                },
                SwitchBack = async ct =>
                {
                    try
                    {
                        var reply = await peer.AbortIncomingAsync(new IncomingRequest { Name = name, Generation = generation + 1 }, CancellationToken.None).ConfigureAwait(false);
                        if (reply.Code == "running")
                        {
                            // Too late to switch back: the guest runs there, with the locks; the map already says so.
                            _log.LogWarning("VM {Vm}: {Node} already runs the guest: it keeps it", name, dest.Name);
                            return false;
                        }
                    }
                    catch (RpcException e)
                    {
                        _log.LogWarning("VM {Vm}: aborting the incoming side on {Node} failed: {Error}", name, dest.Name, e.Detail);
                    }
                    switchedGeneration = await MoveBackAsync(name, dest, destIdentity, lockable, generation + 1).ConfigureAwait(false);
                    return true;
                },
            };
            report = await _runtime.MigrateOutAsync(name, migration, progress, outgoing.Cancel.Token).ConfigureAwait(false);
            if (report.Outcome != MigrationOutcome.Completed)
            {
                // The VM stays here: the map says so again (it may have been moved and moved back).
                await ClearMigratingAsync(name, switchedGeneration).ConfigureAwait(false);
            }
        }
        catch (RpcException e)
        {
            report ??= new MigrationReport(MigrationOutcome.Failed, e.Detail, 0, null, 0, 0, 0, false, 0);
        }
        catch (OperationCanceledException)
        {
            report ??= new MigrationReport(MigrationOutcome.Cancelled, "cancelled", 0, null, 0, 0, 0, false, 0);
        }
        finally
        {
            foreach (var volume in lockable) locks?.DisarmHandover(volume);
            if (report is null or { Outcome: not MigrationOutcome.Completed })
            {
                if (prepared)
                {
                    try
                    {
                        await peer.AbortIncomingAsync(new IncomingRequest { Name = name, Generation = generation + 1 }, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (RpcException e)
                    {
                        _log.LogWarning("VM {Vm}: aborting the incoming side on {Node} failed: {Error}", name, dest.Name, e.Detail);
                    }
                }
                if (report is null or { Outcome: MigrationOutcome.Refused }) await ClearMigratingAsync(name, generation).ConfigureAwait(false);
            }
            var final = ToProto(report ?? new MigrationReport(MigrationOutcome.Failed, "the migration ended without a report", 0, null, 0, 0, 0, false, 0),
                report?.Ok == true ? dest.Name : _nodeName);
            _log.LogInformation("VM {Vm}: migration {From} -> {To}: {Report}", name, _nodeName, dest.Name, report);
            lock (_gate)
            {
                record.Report = final;
                record.EndedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                _running.Remove(name);
                _recent.AddFirst(record);
                while (_recent.Count > RecentKept) _recent.RemoveLast();
            }
            outgoing.Cancel.Dispose();
            events.TryWrite(new MigrationEvent { Name = name, From = _nodeName, To = dest.Name, Phase = "report", Report = final });
        }
    }

    /// <summary>Undoes the switch-over transaction: locks the destination still holds and the VM come back here.</summary>
    /// <returns>The VM's generation afterwards.</returns>
    private async Task<ulong> MoveBackAsync(string name, NodeInfo dest, string destIdentity, IReadOnlyList<string> lockable, ulong destGeneration)
    {
        var (me, _) = _self();
        for (var attempt = 0; ; attempt++)
        {
            var map = await _monitors.GetLatestMapAsync(CancellationToken.None).ConfigureAwait(false);
            var tx = new MapTransaction { BaseEpoch = map.Epoch, Reason = $"migrate VM {name}: back to {_nodeName} ({dest.Name} failed at the switch-over)" };
            var myIdentity = MapLookup.NodeIdentity(me, _self().Incarnation);
            foreach (var volume in lockable)
            {
                var held = map.FindVolume(volume)?.Lock;
                if (held is { Owner.Length: > 0 } && held.Owner == destIdentity)
                {
                    tx.Changes.Add(new MapChange { VolumeLock = new VolumeLockChange { Volume = volume, Op = "transfer", Owner = destIdentity, NodeId = dest.Id, NewOwner = myIdentity, NewNodeId = me, Description = name } });
                }
            }
            tx.Changes.Add(new MapChange
            {
                VmUpdate = new VmUpdate
                {
                    Name = name, Fields = { "node_id", "migrating_to", "want_running", "state" }, NodeId = me, MigratingTo = 0, WantRunning = true,
                    State = VmState.Migrating, StateReason = $"migration to {dest.Name} failed at the switch-over", ExpectGeneration = destGeneration, BumpGeneration = true,
                },
            });
            try
            {
                await _monitors.ProposeAsync(tx, CancellationToken.None).ConfigureAwait(false);
                _reconciler.AdoptGeneration(name, destGeneration + 1);
                _log.LogWarning("VM {Vm}: switch-over to {Node} undone; the VM stays on {Self} (generation {Generation})", name, dest.Name, _nodeName, destGeneration + 1);
                return destGeneration + 1;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Aborted && attempt < 10)
            {
            }
        }
    }

    private async Task ClearMigratingAsync(string name, ulong generation)
    {
        try
        {
            await _monitors.ApplyAsync($"migrate VM {name}: stays on {_nodeName}", CancellationToken.None,
                new MapChange { VmUpdate = new VmUpdate { Name = name, Fields = { "migrating_to" }, MigratingTo = 0, ExpectGeneration = generation } }).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            _log.LogWarning("VM {Vm}: clearing migrating_to failed: {Error}", name, e.Detail);
        }
    }

    private sealed class Progress(Action<MigrationProgress> report) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value) => report(value);
    }

    public static MigrationProgressInfo ToProto(MigrationProgress p) => new()
    {
        Status = p.Status,
        ElapsedMs = p.ElapsedMs,
        TransferredBytes = p.TransferredBytes,
        RemainingBytes = p.RemainingBytes,
        TotalBytes = p.TotalBytes,
        DirtyRateBytesPerSecond = p.DirtyRateBytesPerSecond,
        ExpectedDowntimeMs = p.ExpectedDowntimeMs ?? -1,
        ThroughputMbps = p.ThroughputMbps,
        Pass = p.Pass,
    };

    public static MigrationReportInfo ToProto(MigrationReport r, string node) => new()
    {
        Outcome = r.Outcome switch
        {
            MigrationOutcome.Completed => "completed",
            MigrationOutcome.Cancelled => "cancelled",
            MigrationOutcome.Refused => "refused",
            MigrationOutcome.SourceDied => "source_died",
            _ => "failed",
        },
        Error = r.Error ?? "",
        TotalTimeMs = r.TotalTimeMs,
        DowntimeMs = r.DowntimeMs ?? -1,
        SetupTimeMs = r.SetupTimeMs,
        TransferredBytes = r.TransferredBytes,
        Passes = r.Passes,
        Postcopy = r.Postcopy,
        SwitchoverMs = r.SwitchoverMs,
        StopMs = r.StopMs,
        FinalPassMs = r.FinalPassMs,
        ResumeWaitMs = r.ResumeWaitMs,
        Node = node,
    };

    // ---- destination ----

    public async Task<PrepareIncomingReply> PrepareIncomingAsync(PrepareIncomingRequest request, CancellationToken cancellationToken)
    {
        var spec = request.Spec;
        if (spec is null || !MapTransactions.IsName(spec.Name)) return new PrepareIncomingReply { Error = "no valid VM spec" };
        var name = spec.Name;
        var (me, _) = _self();
        if (request.Epoch > 0)
        {
            // The source asks right after its plan committed: this node's map may not have that epoch yet.
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                await _maps.WaitForEpochAsync(request.Epoch, bounded.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return new PrepareIncomingReply { Error = $"node {_nodeName}'s map did not reach epoch {request.Epoch} within 10 s" };
            }
        }
        var vm = _maps.Current?.FindVm(name);
        if (vm is null || vm.MigratingTo != me || vm.Generation + 1 != request.Generation)
        {
            return new PrepareIncomingReply { Error = $"the map does not show VM {name} migrating to {_nodeName} at generation {request.Generation - 1}" };
        }
        lock (_gate)
        {
            if (_incoming.ContainsKey(name)) return new PrepareIncomingReply { Error = $"VM {name} is already being received on {_nodeName}" };
        }
        if (_runtime.Find(name) is not null) return new PrepareIncomingReply { Error = $"VM {name} already has a QEMU on {_nodeName}" };
        _reconciler.AdoptIncoming(name, request.Generation);
        var (destination, result) = await _runtime.PrepareIncomingAsync(spec, new IncomingMigrationOptions
        {
            ListenHost = _listenHost, Postcopy = request.Postcopy, Generation = request.Generation,
        }, cancellationToken).ConfigureAwait(false);
        if (destination is null) return new PrepareIncomingReply { Error = result.Error ?? "preparing the incoming VM failed" };
        var incoming = new Incoming(destination, request.Generation, request.Source);
        lock (_gate) _incoming[name] = incoming;
        _ = Task.Run(() => FollowIncomingAsync(name, incoming));
        _ = Task.Run(() => WatchSourceAsync(name, incoming));
        _log.LogInformation("VM {Vm}: incoming from {Source} at {Uri} (generation {Generation})", name, request.Source, destination.Uri, request.Generation);
        return new PrepareIncomingReply { Ok = true, Uri = destination.Uri };
    }

    private async Task FollowIncomingAsync(string name, Incoming incoming)
    {
        VmOperationResult result;
        try
        {
            result = await incoming.Destination.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            result = VmOperationResult.Fail(VmErrorCode.QemuFailed, e.Message);
        }
        lock (_gate)
        {
            incoming.Ended = true;
            if (_incoming.TryGetValue(name, out var current) && current == incoming) _incoming.Remove(name);
            if (result.Ok) _landed[name] = incoming.Generation;
        }
        if (result.Ok)
        {
            _reconciler.IncomingCompleted(name);
            _log.LogInformation("VM {Vm}: incoming migration from {Source} completed; the VM runs here (resumed at {Resumed})", name, incoming.Source,
                incoming.Destination.ResumedAt?.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?");
            return;
        }
        _log.LogWarning("VM {Vm}: incoming migration from {Source} ended: {Error}", name, incoming.Source, result.Error);
        var vm = _maps.Current?.FindVm(name);
        if (incoming.SwitchedOver && vm is not null && vm.NodeId == _self().NodeId && vm.Generation == incoming.Generation)
        {
            // The VM is ours in the map but its last state never came (the source died): boot it from its disks.
            _log.LogWarning("VM {Vm}: the switch-over made it this node's; booting it here from its disks", name);
            _reconciler.ForgetAttempt(name);
        }
    }

    public async Task<VmOpReply> SwitchoverIncomingAsync(IncomingRequest request, CancellationToken cancellationToken)
    {
        Incoming? incoming;
        lock (_gate) _incoming.TryGetValue(request.Name, out incoming);
        if (incoming is null || incoming.Generation != request.Generation)
        {
            return new VmOpReply { Code = "not_found", Error = $"no incoming migration of VM {request.Name} (generation {request.Generation}) on {_nodeName}" };
        }
        if (incoming.Destination.Vm.State != VmState.Migrating)
        {
            return new VmOpReply { Code = "invalid_state", Error = $"the incoming QEMU of VM {request.Name} on {_nodeName} is {incoming.Destination.Vm.State}" };
        }
        // Once asked, the switch-over runs to its end even if the source goes away meanwhile.
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var phase = System.Diagnostics.Stopwatch.StartNew();
        ClusterMap map;
        try
        {
            map = await _maps.WaitForEpochAsync(request.Epoch, bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return new VmOpReply { Code = "timeout", Error = $"node {_nodeName}'s map did not reach epoch {request.Epoch}" };
        }
        var vm = map.FindVm(request.Name);
        if (vm is null || vm.NodeId != _self().NodeId || vm.Generation != request.Generation)
        {
            return new VmOpReply { Code = "invalid_state", Error = $"the map does not place VM {request.Name} generation {request.Generation} on {_nodeName}" };
        }
        var mapMs = phase.ElapsedMilliseconds;
        var error = await incoming.Destination.SwitchoverAsync(request.Resume, bounded.Token).ConfigureAwait(false);
        _log.LogInformation("VM {Vm}: taking over: map epoch {Epoch} after {Map} ms, locks and ports {Take} ms", request.Name, request.Epoch, mapMs, phase.ElapsedMilliseconds - mapMs);
        if (error is not null) return new VmOpReply { Code = "resource_failed", Error = error };
        incoming.SwitchedOver = true;
        return new VmOpReply { Ok = true, State = VmState.Migrating };
    }

    /// <summary>
    /// After the switch-over the VM is this node's in the map. If the source dies before it told its QEMU to
    /// continue, the last state never comes: once the source is declared down, the incoming QEMU is dropped and
    /// the reconciler boots the VM here from its disks (flushed at the switch-over): one running copy, data intact.
    /// </summary>
    private async Task WatchSourceAsync(string name, Incoming incoming)
    {
        while (true)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
            lock (_gate) if (incoming.Ended) return;
            var map = _maps.Current;
            var source = map?.FindNode(incoming.Source);
            var vm = map?.FindVm(name);
            if (vm is null || vm.Generation > incoming.Generation) return;
            // Before the switch-over transaction the source owns the VM; after it, this node does.
            if (vm.NodeId != _self().NodeId || vm.Generation != incoming.Generation) continue;
            if (source is null || source.State == NodeState.Up) continue;
            lock (_gate)
            {
                if (incoming.Ended) return;
            }
            // The guest may have been resumed here a moment ago (QEMU had the whole state and the takeover went
            // through before the source died): then it is the one running copy and must not be killed.
            if (!await incoming.Destination.ReleaseSwitchoverAsync(CancellationToken.None).ConfigureAwait(false)) return;
            _log.LogWarning("VM {Vm}: source node {Source} is down before the migration completed: booting the VM here from its disks", name, incoming.Source);
            lock (_gate)
            {
                if (incoming.Ended) return;
                _incoming.Remove(name);
            }
            await incoming.Destination.AbortAsync(CancellationToken.None).ConfigureAwait(false);
            _reconciler.ForgetAttempt(name);
            return;
        }
    }

    public async Task<VmOpReply> AbortIncomingAsync(IncomingRequest request, CancellationToken cancellationToken)
    {
        Incoming? incoming;
        lock (_gate)
        {
            if (!_incoming.TryGetValue(request.Name, out incoming) || incoming.Generation != request.Generation) incoming = null;
            if (incoming is null && _landed.TryGetValue(request.Name, out var landed) && landed == request.Generation)
            {
                return new VmOpReply { Code = "running", Error = $"VM {request.Name} already runs on {_nodeName}: it stays here" };
            }
        }
        if (incoming is null) return new VmOpReply { Ok = true };
        if (!await incoming.Destination.ReleaseSwitchoverAsync(cancellationToken).ConfigureAwait(false))
        {
            return new VmOpReply { Code = "running", Error = $"VM {request.Name} already runs on {_nodeName} (its takeover went through): it stays here" };
        }
        lock (_gate)
        {
            if (_incoming.TryGetValue(request.Name, out var current) && current == incoming) _incoming.Remove(request.Name);
        }
        _log.LogInformation("VM {Vm}: incoming migration from {Source} aborted", request.Name, incoming.Source);
        await incoming.Destination.AbortAsync(cancellationToken).ConfigureAwait(false);
        return new VmOpReply { Ok = true };
    }
}
