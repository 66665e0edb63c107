using System.Diagnostics;
using Fabric.Membership.Store;
using Fabric.Proto;

namespace Fabric.Bench.Membership;

/// <summary>
/// A pass-through <see cref="IMapStore"/> that records when the newest commit started and ended
/// (Stopwatch ticks), so the fan-out bench can split a change's latency into apply, commit and
/// delivery without touching the monitor. Commits are serialized by the monitor's write gate, so
/// plain fields are enough; readers look only after the proposal's reply arrived.
/// </summary>
public sealed class TimedMapStore(IMapStore inner) : IMapStore
{
    public string Kind => inner.Kind;

    public long LastCommitStartTicks { get; private set; }

    public long LastCommitEndTicks { get; private set; }

    public ulong LastCommitEpoch { get; private set; }

    public Task<ClusterMap?> LoadLatestAsync(CancellationToken cancellationToken) => inner.LoadLatestAsync(cancellationToken);

    public Task<ClusterMap?> LoadAsync(ulong epoch, CancellationToken cancellationToken) => inner.LoadAsync(epoch, cancellationToken);

    public async Task<MapCommitResult> CommitAsync(ClusterMap next, string requestId, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var result = await inner.CommitAsync(next, requestId, cancellationToken).ConfigureAwait(false);
        LastCommitStartTicks = start;
        LastCommitEndTicks = Stopwatch.GetTimestamp();
        LastCommitEpoch = next.Epoch;
        return result;
    }

    public Task<ulong?> FindRequestAsync(string requestId, CancellationToken cancellationToken) => inner.FindRequestAsync(requestId, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
