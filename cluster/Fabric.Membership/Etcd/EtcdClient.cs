using Fabric.Proto.Etcd;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;
using Google.Protobuf;

namespace Fabric.Membership.Etcd;

/// <summary>
/// The few etcd v3 calls the monitors need (KV range/put/txn, leases), spoken over Fabric.Rpc to etcd's
/// own gRPC API. Several endpoints may be given: a call that finds one unavailable moves on to the next.
/// </summary>
public sealed class EtcdClient : IDisposable
{
    public static readonly RpcMethod<RangeRequest, RangeResponse> RangeMethod = RpcMethod.From<RangeRequest, RangeResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.KV", "Range");
    public static readonly RpcMethod<PutRequest, PutResponse> PutMethod = RpcMethod.From<PutRequest, PutResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.KV", "Put");
    public static readonly RpcMethod<TxnRequest, TxnResponse> TxnMethod = RpcMethod.From<TxnRequest, TxnResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.KV", "Txn");
    public static readonly RpcMethod<LeaseGrantRequest, LeaseGrantResponse> LeaseGrantMethod = RpcMethod.From<LeaseGrantRequest, LeaseGrantResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Lease", "LeaseGrant");
    public static readonly RpcMethod<LeaseRevokeRequest, LeaseRevokeResponse> LeaseRevokeMethod = RpcMethod.From<LeaseRevokeRequest, LeaseRevokeResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Lease", "LeaseRevoke");
    public static readonly RpcMethod<LeaseKeepAliveRequest, LeaseKeepAliveResponse> LeaseKeepAliveMethod = RpcMethod.From<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Lease", "LeaseKeepAlive");

    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(3);

    private readonly RpcChannel[] _channels;
    private int _preferred;

    public EtcdClient(IReadOnlyList<string> endpoints)
    {
        if (endpoints.Count == 0) throw new ArgumentException("etcd needs at least one endpoint", nameof(endpoints));
        _channels = endpoints.Select(e => new RpcChannel(e, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(1) })).ToArray();
        Endpoints = endpoints;
    }

    public IReadOnlyList<string> Endpoints { get; }

    private async Task<TResponse> CallAsync<TRequest, TResponse>(RpcMethod<TRequest, TResponse> method, TRequest request, CancellationToken cancellationToken)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        RpcException? last = null;
        for (int attempt = 0; attempt < _channels.Length; attempt++)
        {
            var index = (Volatile.Read(ref _preferred) + attempt) % _channels.Length;
            try
            {
                var response = await _channels[index].UnaryAsync(method, request, CallOptions.WithTimeout(CallTimeout, cancellationToken)).ConfigureAwait(false);
                Volatile.Write(ref _preferred, index);
                return response;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !cancellationToken.IsCancellationRequested)
            {
                last = e;
            }
        }
        throw new RpcException(StatusCode.Unavailable, $"no etcd endpoint answered ({string.Join(", ", Endpoints)}): {last?.Detail}", innerException: last);
    }

    public Task<RangeResponse> RangeAsync(RangeRequest request, CancellationToken cancellationToken) => CallAsync(RangeMethod, request, cancellationToken);

    public async Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var response = await RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, cancellationToken).ConfigureAwait(false);
        return response.Kvs.Count > 0 ? response.Kvs[0] : null;
    }

    public Task<PutResponse> PutAsync(PutRequest request, CancellationToken cancellationToken) => CallAsync(PutMethod, request, cancellationToken);

    public Task<TxnResponse> TxnAsync(TxnRequest request, CancellationToken cancellationToken) => CallAsync(TxnMethod, request, cancellationToken);

    public Task<LeaseGrantResponse> LeaseGrantAsync(long ttlSeconds, CancellationToken cancellationToken) =>
        CallAsync(LeaseGrantMethod, new LeaseGrantRequest { TTL = ttlSeconds }, cancellationToken);

    public Task<LeaseRevokeResponse> LeaseRevokeAsync(long leaseId, CancellationToken cancellationToken) =>
        CallAsync(LeaseRevokeMethod, new LeaseRevokeRequest { ID = leaseId }, cancellationToken);

    /// <summary>Refreshes a lease once; returns its remaining TTL in seconds (0 or less: expired).</summary>
    public async Task<long> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken)
    {
        RpcException? last = null;
        for (int attempt = 0; attempt < _channels.Length; attempt++)
        {
            var index = (Volatile.Read(ref _preferred) + attempt) % _channels.Length;
            try
            {
                using var call = _channels[index].DuplexStreaming(LeaseKeepAliveMethod, CallOptions.WithTimeout(CallTimeout, cancellationToken));
                await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leaseId }).ConfigureAwait(false);
                await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                if (!await call.ResponseStream.MoveNextAsync(cancellationToken).ConfigureAwait(false)) return 0;
                return call.ResponseStream.Current.TTL;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !cancellationToken.IsCancellationRequested)
            {
                last = e;
            }
        }
        throw new RpcException(StatusCode.Unavailable, $"no etcd endpoint answered the lease keep-alive: {last?.Detail}", innerException: last);
    }

    public void Dispose()
    {
        foreach (var channel in _channels) channel.Dispose();
    }
}
