using System.Globalization;
using Fabric.Membership.Etcd;
using Fabric.Proto;
using Fabric.Proto.Etcd;
using Google.Protobuf;

namespace Fabric.Membership.Store;

/// <summary>
/// The HA monitors' map store: the map history in etcd, committed with an etcd transaction that compares
/// the epoch key (and, when a leadership guard is set, that this monitor still holds the leader key), so
/// exactly one monitor can write each epoch and a deposed leader can write none.
/// </summary>
/// <remarks>
/// Keys under the prefix: <c>epoch</c> = newest epoch (decimal text); <c>maps/&lt;epoch:D20&gt;</c> =
/// serialized map; <c>requests/&lt;id&gt;</c> = epoch it produced; <c>leader</c> = the active monitor
/// (owned by <see cref="Monitor.EtcdLeaderElection"/>). Old maps past <see cref="RetainEpochs"/> are
/// deleted in the same transaction that writes a new one.
/// </remarks>
public sealed class EtcdMapStore : IMapStore
{
    public const int RetainEpochs = 2000;

    private readonly EtcdClient _etcd;
    private readonly string _prefix;
    private long _leaderRevisionGuard;

    public EtcdMapStore(EtcdClient etcd, string prefix)
    {
        _etcd = etcd;
        _prefix = prefix.TrimEnd('/');
    }

    public string Kind => "etcd";

    public string EpochKey => _prefix + "/epoch";

    public string LeaderKey => _prefix + "/leader";

    private string MapKey(ulong epoch) => $"{_prefix}/maps/{epoch:D20}";

    private string RequestKey(string id) => $"{_prefix}/requests/{id}";

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);

    /// <summary>Commits succeed only while the leader key still has this create revision (0: no guard).</summary>
    public void GuardLeadership(long leaderCreateRevision) => Volatile.Write(ref _leaderRevisionGuard, leaderCreateRevision);

    public async Task<ulong> LatestEpochAsync(CancellationToken cancellationToken)
    {
        var kv = await _etcd.GetAsync(EpochKey, cancellationToken).ConfigureAwait(false);
        return kv is null ? 0 : ulong.Parse(kv.Value.ToStringUtf8(), CultureInfo.InvariantCulture);
    }

    public async Task<ClusterMap?> LoadLatestAsync(CancellationToken cancellationToken)
    {
        var epoch = await LatestEpochAsync(cancellationToken).ConfigureAwait(false);
        return epoch == 0 ? null : await LoadAsync(epoch, cancellationToken).ConfigureAwait(false);
    }

    public async Task<ClusterMap?> LoadAsync(ulong epoch, CancellationToken cancellationToken)
    {
        var kv = await _etcd.GetAsync(MapKey(epoch), cancellationToken).ConfigureAwait(false);
        return kv is null ? null : ClusterMap.Parser.ParseFrom(kv.Value);
    }

    public async Task<MapCommitResult> CommitAsync(ClusterMap next, string requestId, CancellationToken cancellationToken)
    {
        var previous = next.Epoch - 1;
        var txn = new TxnRequest();
        txn.Compare.Add(previous == 0
            ? new Compare { Key = Bytes(EpochKey), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 }
            : new Compare { Key = Bytes(EpochKey), Target = Compare.Types.CompareTarget.Value, Result = Compare.Types.CompareResult.Equal, Value = Bytes(previous.ToString(CultureInfo.InvariantCulture)) });
        var guard = Volatile.Read(ref _leaderRevisionGuard);
        if (guard != 0)
        {
            txn.Compare.Add(new Compare { Key = Bytes(LeaderKey), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = guard });
        }
        if (requestId.Length > 0)
        {
            txn.Compare.Add(new Compare { Key = Bytes(RequestKey(requestId)), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        }
        txn.Success.Add(Put(EpochKey, Bytes(next.Epoch.ToString(CultureInfo.InvariantCulture))));
        txn.Success.Add(Put(MapKey(next.Epoch), next.ToByteString()));
        if (requestId.Length > 0) txn.Success.Add(Put(RequestKey(requestId), Bytes(next.Epoch.ToString(CultureInfo.InvariantCulture))));
        if (next.Epoch > RetainEpochs)
        {
            txn.Success.Add(new RequestOp
            {
                RequestDeleteRange = new DeleteRangeRequest { Key = Bytes(MapKey(0)), RangeEnd = Bytes(MapKey(next.Epoch - RetainEpochs)) },
            });
        }
        var response = await _etcd.TxnAsync(txn, cancellationToken).ConfigureAwait(false);
        if (response.Succeeded) return new MapCommitResult(MapCommitOutcome.Committed, next.Epoch);

        if (requestId.Length > 0 && await FindRequestAsync(requestId, cancellationToken).ConfigureAwait(false) is { } applied)
        {
            return new MapCommitResult(MapCommitOutcome.DuplicateRequest, applied);
        }
        // Lost the epoch race or the leadership: either way another writer decides now.
        return new MapCommitResult(MapCommitOutcome.EpochConflict, await LatestEpochAsync(cancellationToken).ConfigureAwait(false));
    }

    private static RequestOp Put(string key, ByteString value) => new() { RequestPut = new PutRequest { Key = Bytes(key), Value = value } };

    public async Task<ulong?> FindRequestAsync(string requestId, CancellationToken cancellationToken)
    {
        var kv = await _etcd.GetAsync(RequestKey(requestId), cancellationToken).ConfigureAwait(false);
        return kv is null ? null : ulong.Parse(kv.Value.ToStringUtf8(), CultureInfo.InvariantCulture);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
