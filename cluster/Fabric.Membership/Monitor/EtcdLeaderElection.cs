using Fabric.Membership.Etcd;
using Fabric.Proto.Etcd;
using Google.Protobuf;

namespace Fabric.Membership.Monitor;

/// <summary>
/// Elects the active monitor with an etcd lease: the monitor that creates the leader key (bound to its
/// lease) is active for as long as it keeps the lease alive; when it dies the lease expires, etcd deletes
/// the key, and the next campaign wins. No consensus of our own: etcd's is the one that counts.
/// </summary>
public sealed class EtcdLeaderElection
{
    private readonly EtcdClient _etcd;
    private readonly string _leaderKey;

    public EtcdLeaderElection(EtcdClient etcd, string leaderKey, TimeSpan leaseTtl)
    {
        if (leaseTtl < TimeSpan.FromSeconds(2)) throw new ArgumentOutOfRangeException(nameof(leaseTtl), "etcd leases shorter than 2 s are not reliable");
        _etcd = etcd;
        _leaderKey = leaderKey;
        LeaseTtl = leaseTtl;
    }

    public TimeSpan LeaseTtl { get; }

    /// <summary>Tries once to become leader. On success returns the lease and the leader key's create
    /// revision (the guard for map commits); otherwise null.</summary>
    public async Task<Leadership?> CampaignAsync(string candidate, CancellationToken cancellationToken)
    {
        var lease = await _etcd.LeaseGrantAsync((long)LeaseTtl.TotalSeconds, cancellationToken).ConfigureAwait(false);
        if (lease.Error.Length > 0) throw new InvalidOperationException($"etcd refused a lease: {lease.Error}");
        var key = ByteString.CopyFromUtf8(_leaderKey);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(candidate), Lease = lease.ID } });
        var response = await _etcd.TxnAsync(txn, cancellationToken).ConfigureAwait(false);
        if (response.Succeeded) return new Leadership(lease.ID, response.Header.Revision);
        await _etcd.LeaseRevokeAsync(lease.ID, cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>Who holds the leader key now ("name|address"), or null.</summary>
    public async Task<string?> CurrentLeaderAsync(CancellationToken cancellationToken)
    {
        var kv = await _etcd.GetAsync(_leaderKey, cancellationToken).ConfigureAwait(false);
        return kv?.Value.ToStringUtf8();
    }

    /// <summary>Keeps the lease alive; false when it expired (leadership lost).</summary>
    public async Task<bool> RenewAsync(Leadership leadership, CancellationToken cancellationToken)
    {
        var ttl = await _etcd.KeepAliveOnceAsync(leadership.LeaseId, cancellationToken).ConfigureAwait(false);
        return ttl > 0;
    }

    /// <summary>Gives leadership up at once (clean shutdown): the others need not wait for the TTL.</summary>
    public Task ResignAsync(Leadership leadership, CancellationToken cancellationToken) => _etcd.LeaseRevokeAsync(leadership.LeaseId, cancellationToken);
}

public sealed record Leadership(long LeaseId, long Revision);
