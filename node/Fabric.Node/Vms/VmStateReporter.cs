using System.Threading.Channels;
using Fabric.Core.Map;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Vms;

/// <summary>
/// Publishes this node's VM states in the cluster map, one at a time and in order, as VmUpdate changes
/// guarded by the run's generation (expect_generation). A report for a VM that the map no longer places
/// here, or whose generation moved on, is dropped: the VM belongs to a newer run. A monitor that does not
/// answer is retried with backoff, a bounded number of times.
/// </summary>
public sealed class VmStateReporter : IAsyncDisposable
{
    private const int MaxAttempts = 8;

    private readonly MonitorClient _monitors;
    private readonly MapWatcher _maps;
    private readonly Func<uint> _nodeId;
    private readonly ILogger _log;
    private readonly Channel<VmStateReport> _queue = Channel.CreateBounded<VmStateReport>(new BoundedChannelOptions(1024) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public VmStateReporter(MonitorClient monitors, MapWatcher maps, Func<uint> nodeId, ILogger log)
    {
        _monitors = monitors;
        _maps = maps;
        _nodeId = nodeId;
        _log = log;
        _loop = Task.Run(LoopAsync);
    }

    public void Enqueue(VmStateReport report) => _queue.Writer.TryWrite(report);

    private async Task LoopAsync()
    {
        try
        {
            await foreach (var report in _queue.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                await PublishAsync(report, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task PublishAsync(VmStateReport report, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        for (var attempt = 1; ; attempt++)
        {
            var vm = _maps.Current?.FindVm(report.Name);
            if (vm is null || vm.NodeId != _nodeId() || (report.Generation != 0 && vm.Generation != report.Generation))
            {
                _log.LogInformation("VM {Vm}: not reporting {State} (the map places generation {MapGeneration} on node {Node}; this run is generation {Generation})",
                    report.Name, report.State.StateText(), vm?.Generation, vm?.NodeId, report.Generation);
                return;
            }
            var update = new VmUpdate
            {
                Name = report.Name,
                State = report.State,
                StateReason = report.Reason,
                ExpectGeneration = report.Generation,
            };
            update.Fields.Add("state");
            if (report.NoLongerWanted)
            {
                update.Fields.Add("want_running");
                update.WantRunning = false;
            }
            try
            {
                await _monitors.ApplyAsync($"node {_nodeId()}: VM {report.Name} {report.State.StateText()}", cancellationToken,
                    new MapChange { VmUpdate = update }).ConfigureAwait(false);
                return;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.FailedPrecondition or StatusCode.NotFound)
            {
                _log.LogInformation("VM {Vm}: state {State} not published: {Error}", report.Name, report.State.StateText(), e.Detail);
                return;
            }
            catch (RpcException e) when (attempt < MaxAttempts)
            {
                _log.LogWarning("VM {Vm}: publishing state {State} failed (attempt {Attempt}): {Error}", report.Name, report.State.StateText(), attempt, e.Detail);
            }
            catch (RpcException e)
            {
                _log.LogError("VM {Vm}: state {State} could not be published: {Error}", report.Name, report.State.StateText(), e.Detail);
                return;
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        // Reports already queued (a VM that stopped during shutdown) get a short chance to go out.
        if (await Task.WhenAny(_loop, Task.Delay(TimeSpan.FromSeconds(3))).ConfigureAwait(false) != _loop) _stop.Cancel();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
