using Fabric.Membership.Store;
using Fabric.Proto;
using Microsoft.Extensions.Logging;

namespace Fabric.Membership.Monitor;

/// <summary>
/// Runs one monitor in a node: makes it active (embedded store, or won the etcd election) or standby
/// (follows the store), and drives the failure detector while active.
/// </summary>
/// <remarks>
/// <code>
///   embedded:  start -> Initialize(store) -> ACTIVE (tick every 100 ms)
///   etcd:      start -> campaign --won--> guard commits with the leader revision -> Initialize -> ACTIVE
///                           |                 (renew lease every TTL/3; renewal fails -> STANDBY)
///                           +--lost--> STANDBY: follow the store's epoch every 100 ms; leader key gone -> campaign
/// </code>
/// A monitor that steps down ends its watchers (they reconnect, possibly to the new active monitor) and
/// can no longer commit: the store compares the leader revision it held.
/// </remarks>
public sealed class MonitorRunner : IAsyncDisposable
{
    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(100);

    private readonly string _name;
    private readonly string _address;
    private readonly Func<ClusterMap> _genesis;
    private readonly EtcdLeaderElection? _election;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly long _startedTimestamp;
    private Task? _loop;
    private Leadership? _leadership;
    private volatile string _activeName = "";
    private volatile string _activeAddress = "";

    public MonitorRunner(string name, string address, MonitorCore core, Func<ClusterMap> genesis, EtcdLeaderElection? election, TimeProvider time, ILogger log)
    {
        _name = name;
        _address = address;
        Core = core;
        _genesis = genesis;
        _election = election;
        _time = time;
        _log = log;
        _startedTimestamp = time.GetTimestamp();
    }

    public MonitorCore Core { get; }

    public string Name => _name;

    public MonitorRole Role { get; private set; } = MonitorRole.Electing;

    public string ActiveName => _activeName;

    public string ActiveAddress => _activeAddress;

    /// <summary>Completes when this monitor first becomes active or standby.</summary>
    public Task Ready => _ready.Task;

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TimeSpan Uptime => _time.GetElapsedTime(_startedTimestamp);

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (_election is null)
                {
                    await BecomeActiveAsync(stop).ConfigureAwait(false);
                    await RunActiveAsync(null, stop).ConfigureAwait(false);
                    continue;
                }
                var won = await _election.CampaignAsync($"{_name}|{_address}", stop).ConfigureAwait(false);
                if (won is not null)
                {
                    _leadership = won;
                    if (Core.Store is EtcdMapStore etcdStore) etcdStore.GuardLeadership(won.Revision);
                    _log.LogInformation("Monitor {Name} won the election (lease {Lease}, revision {Revision})", _name, won.LeaseId, won.Revision);
                    await BecomeActiveAsync(stop).ConfigureAwait(false);
                    await RunActiveAsync(won, stop).ConfigureAwait(false);
                    StepDown("lost the etcd lease");
                }
                else
                {
                    await RunStandbyAsync(stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // The store (etcd) is unreachable or failed: stop acting as active, retry shortly.
                if (Role == MonitorRole.Active && _election is not null) StepDown($"store error: {e.Message}");
                _log.LogWarning("Monitor {Name}: {Error}; retrying", _name, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(500), _time, stop).ConfigureAwait(false);
            }
        }
    }

    private async Task BecomeActiveAsync(CancellationToken stop)
    {
        Core.ActiveName = _name;
        var map = await Core.InitializeAsync(_genesis, stop).ConfigureAwait(false);
        _activeName = _name;
        _activeAddress = _address;
        Role = MonitorRole.Active;
        _ready.TrySetResult();
        _log.LogInformation("Monitor {Name} is active at epoch {Epoch} (store {Store})", _name, map.Epoch, Core.Store.Kind);
    }

    private async Task RunActiveAsync(Leadership? leadership, CancellationToken stop)
    {
        var renewEvery = _election is null ? TimeSpan.MaxValue : _election.LeaseTtl / 3;
        var lastRenew = _time.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            await Core.TickAsync(stop).ConfigureAwait(false);
            if (leadership is not null && _time.GetElapsedTime(lastRenew) >= renewEvery)
            {
                if (!await _election!.RenewAsync(leadership, stop).ConfigureAwait(false)) return;
                lastRenew = _time.GetTimestamp();
            }
            await Task.Delay(TickInterval, _time, stop).ConfigureAwait(false);
        }
    }

    private void StepDown(string reason)
    {
        _log.LogWarning("Monitor {Name} steps down: {Reason}", _name, reason);
        Role = MonitorRole.Standby;
        _leadership = null;
        if (Core.Store is EtcdMapStore etcdStore) etcdStore.GuardLeadership(-1);
        Core.History.CompleteAll(new MonitorNotActiveException(_name, reason));
    }

    private async Task RunStandbyAsync(CancellationToken stop)
    {
        Role = MonitorRole.Standby;
        while (!stop.IsCancellationRequested)
        {
            var leader = await _election!.CurrentLeaderAsync(stop).ConfigureAwait(false);
            if (leader is null) return; // campaign again
            var parts = leader.Split('|', 2);
            _activeName = parts[0];
            _activeAddress = parts.Length > 1 ? parts[1] : "";
            if (Core.Current is null)
            {
                var latest = await Core.Store.LoadLatestAsync(stop).ConfigureAwait(false);
                if (latest is not null) await Core.RefreshFromStoreAsync(stop).ConfigureAwait(false);
            }
            else
            {
                await Core.RefreshFromStoreAsync(stop).ConfigureAwait(false);
            }
            if (Core.Current is not null) _ready.TrySetResult();
            await Task.Delay(TickInterval, _time, stop).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        if (_leadership is { } leadership && _election is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _election.ResignAsync(leadership, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _log.LogWarning("Monitor {Name} could not resign cleanly: {Error}", _name, e.Message);
            }
        }
        Core.History.CompleteAll();
        _stop.Dispose();
    }
}

public sealed class MonitorNotActiveException(string name, string reason) : Exception($"monitor {name} is no longer active ({reason}); reconnect");
