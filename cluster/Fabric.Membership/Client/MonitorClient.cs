using System.Collections.Concurrent;
using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Google.Protobuf;

namespace Fabric.Membership.Client;

/// <summary>
/// Talks to the cluster's monitors: finds the active one (following standbys' redirects), moves on when
/// a monitor is unreachable, and retries until the call's overall timeout.
/// </summary>
/// <remarks>
/// Contract: a call either returns the active monitor's answer or throws <see cref="RpcException"/>:
/// the monitor's own refusal (INVALID_ARGUMENT, ALREADY_EXISTS, ... with its message) at once, or
/// UNAVAILABLE naming every monitor tried when none answered in time. Changes carry a request id, so
/// a change retried after a lost answer is applied once.
/// </remarks>
public sealed class MonitorClient : IDisposable
{
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(3);

    private readonly ConcurrentDictionary<string, RpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly string[] _monitors;
    private string? _active;

    /// <param name="monitorAddresses">host:port of every monitor's gRPC API.</param>
    public MonitorClient(IReadOnlyList<string> monitorAddresses, TimeSpan? callTimeout = null)
    {
        if (monitorAddresses.Count == 0) throw new ArgumentException("at least one monitor address is needed", nameof(monitorAddresses));
        _monitors = monitorAddresses.ToArray();
        CallTimeout = callTimeout ?? TimeSpan.FromSeconds(15);
    }

    public IReadOnlyList<string> Monitors => _monitors;

    public TimeSpan CallTimeout { get; }

    /// <summary>The monitor that answered the last write, when known.</summary>
    public string? ActiveAddress => Volatile.Read(ref _active);

    public RpcChannel Channel(string address) => _channels.GetOrAdd(address, a => new RpcChannel(a, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(1) }));

    private IEnumerable<string> Candidates()
    {
        var active = ActiveAddress;
        if (active is not null) yield return active;
        foreach (var monitor in _monitors)
        {
            if (monitor != active) yield return monitor;
        }
    }

    /// <summary>Calls the active monitor (writes) or any monitor (reads), retrying as the contract says.</summary>
    public async Task<TResponse> CallAsync<TRequest, TResponse>(RpcMethod<TRequest, TResponse> method, TRequest request, bool needsActive, CancellationToken cancellationToken, TimeSpan? timeout = null)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout ?? CallTimeout);
        var errors = new Dictionary<string, string>();
        var delay = TimeSpan.FromMilliseconds(50);
        var redirects = 0;
        while (true)
        {
            var redirected = false;
            foreach (var target in Candidates())
            {
                try
                {
                    var response = await Channel(target).UnaryAsync(method, request, CallOptions.WithTimeout(AttemptTimeout, deadline.Token)).ConfigureAwait(false);
                    if (needsActive) Volatile.Write(ref _active, target);
                    return response;
                }
                catch (RpcException e) when (needsActive && e.StatusCode == StatusCode.FailedPrecondition
                    && e.Trailers.GetValue(Monitor.MonitorService.ActiveMonitorTrailer) is { Length: > 0 } active)
                {
                    // A standby named the active monitor: ask it next (it moves to the front).
                    errors[target] = e.Detail;
                    Volatile.Write(ref _active, active);
                    redirected = active != target;
                    if (redirected) break;
                }
                catch (RpcException e) when (IsTransient(e) && !cancellationToken.IsCancellationRequested && !deadline.IsCancellationRequested)
                {
                    errors[target] = e.Detail;
                    if (ActiveAddress == target) Volatile.Write(ref _active, null);
                }
                catch (RpcException e) when (IsTransient(e) && !cancellationToken.IsCancellationRequested)
                {
                    errors[target] = e.Detail;
                    break;
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (deadline.IsCancellationRequested)
            {
                throw new RpcException(StatusCode.Unavailable,
                    $"no monitor answered {method.Name} within {(timeout ?? CallTimeout).TotalSeconds:0.#} s: " +
                    string.Join("; ", errors.Select(e => $"{e.Key}: {e.Value}")) + ". Is the cluster up (fabric status, fabric up)?");
            }
            // Follow a redirect at once, but never spin: monitors mid-election may point at each other.
            if (redirected && ++redirects <= 2) continue;
            redirects = 0;
            try { await Task.Delay(delay, deadline.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 500));
        }
    }

    private static bool IsTransient(RpcException e) =>
        e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled
        || (e.StatusCode == StatusCode.FailedPrecondition && e.Detail.Contains("no monitor is active yet", StringComparison.Ordinal));

    public Task<ClusterMap> GetMapAsync(CancellationToken cancellationToken, ulong epoch = 0) =>
        CallAsync(MonitorMethods.GetMap, new GetMapRequest { Epoch = epoch }, needsActive: false, cancellationToken);

    /// <summary>The newest map as the active monitor has it (reads from a standby may lag).</summary>
    public Task<ClusterMap> GetLatestMapAsync(CancellationToken cancellationToken) =>
        CallAsync(MonitorMethods.GetMap, new GetMapRequest(), needsActive: true, cancellationToken);

    public Task<ProposeReply> ProposeAsync(MapTransaction transaction, CancellationToken cancellationToken)
    {
        if (transaction.RequestId.Length == 0) transaction.RequestId = Guid.NewGuid().ToString("N");
        return CallAsync(MonitorMethods.ProposeChange, transaction, needsActive: true, cancellationToken);
    }

    /// <summary>Proposes changes against the newest map (base epoch 0) and returns the epoch they made.</summary>
    public async Task<ulong> ApplyAsync(string reason, CancellationToken cancellationToken, params MapChange[] changes)
    {
        var tx = new MapTransaction { Reason = reason };
        tx.Changes.AddRange(changes);
        var reply = await ProposeAsync(tx, cancellationToken).ConfigureAwait(false);
        return reply.Epoch;
    }

    public Task<JoinReply> JoinAsync(JoinRequest request, CancellationToken cancellationToken) =>
        CallAsync(MonitorMethods.Join, request, needsActive: true, cancellationToken);

    public Task<HeartbeatReply> HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken) =>
        CallAsync(MonitorMethods.Heartbeat, request, needsActive: true, cancellationToken, TimeSpan.FromSeconds(2));

    public Task<FailureReportReply> ReportFailureAsync(FailureReport report, CancellationToken cancellationToken) =>
        CallAsync(MonitorMethods.ReportFailure, report, needsActive: true, cancellationToken, TimeSpan.FromSeconds(2));

    /// <summary>The status of one monitor (no redirect): for `fabric status`.</summary>
    public async Task<MonitorStatus?> TryGetStatusAsync(string address, CancellationToken cancellationToken)
    {
        try
        {
            return await Channel(address).UnaryAsync(MonitorMethods.GetMonitorStatus, new MonitorStatusRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(2), cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values) channel.Dispose();
        _channels.Clear();
    }
}
