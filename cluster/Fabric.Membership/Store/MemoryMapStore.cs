using Fabric.Proto;

namespace Fabric.Membership.Store;

/// <summary>An in-process map store with the same compare-and-swap contract as the durable ones. Used
/// by unit tests of the monitor and by the deterministic simulation; never by a node.</summary>
public sealed class MemoryMapStore : IMapStore
{
    private readonly object _gate = new();
    private readonly SortedDictionary<ulong, byte[]> _maps = new();
    private readonly Dictionary<string, ulong> _requests = new();

    public string Kind => "memory";

    public Task<ClusterMap?> LoadLatestAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_maps.Count == 0 ? null : ClusterMap.Parser.ParseFrom(_maps.Last().Value));
        }
    }

    public Task<ClusterMap?> LoadAsync(ulong epoch, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_maps.TryGetValue(epoch, out var bytes) ? ClusterMap.Parser.ParseFrom(bytes) : null);
        }
    }

    public Task<MapCommitResult> CommitAsync(ClusterMap next, string requestId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (requestId.Length > 0 && _requests.TryGetValue(requestId, out var applied))
            {
                return Task.FromResult(new MapCommitResult(MapCommitOutcome.DuplicateRequest, applied));
            }
            var latest = _maps.Count == 0 ? 0 : _maps.Last().Key;
            if (next.Epoch != latest + 1) return Task.FromResult(new MapCommitResult(MapCommitOutcome.EpochConflict, latest));
            _maps[next.Epoch] = Google.Protobuf.MessageExtensions.ToByteArray(next);
            if (requestId.Length > 0) _requests[requestId] = next.Epoch;
            return Task.FromResult(new MapCommitResult(MapCommitOutcome.Committed, next.Epoch));
        }
    }

    public Task<ulong?> FindRequestAsync(string requestId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_requests.TryGetValue(requestId, out var epoch) ? epoch : (ulong?)null);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
