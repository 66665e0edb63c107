using Fabric.Proto.Etcd;
using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Tests.Support;
using Google.Protobuf;

namespace Fabric.Rpc.Tests.Interop;

/// <summary>
/// Our client against etcd 3.4's own gRPC API (a server nobody here wrote), with the messages of
/// proto/etcd_kv.proto: what HA monitors use (put/range, compare-and-swap, leases, watch) and etcd's
/// trailers-only error responses.
/// </summary>
public sealed class EtcdInteropTests : IAsyncLifetime
{
    private EtcdProcess? _etcd;
    private RpcChannel? _channel;

    private RpcChannel Channel => _channel ?? throw new InvalidOperationException("etcd is not running");

    public async Task InitializeAsync()
    {
        if (!ExternalProcess.InCi && !File.Exists(EtcdProcess.Binary))
        {
            return; // the facts below are skipped in this case
        }

        _etcd = await EtcdProcess.StartAsync();
        _channel = new RpcChannel(_etcd.Target);
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }
    }

    [RequiresFact(EtcdProcess.Binary, "apt-get install etcd-server")]
    public async Task Put_then_range_by_key_and_by_prefix()
    {
        PutResponse put = await Channel.UnaryAsync(EtcdProcess.Put, new PutRequest { Key = Bytes("/fabric/a"), Value = Bytes("1") });
        await Channel.UnaryAsync(EtcdProcess.Put, new PutRequest { Key = Bytes("/fabric/b"), Value = Bytes("2") });
        await Channel.UnaryAsync(EtcdProcess.Put, new PutRequest { Key = Bytes("/other"), Value = Bytes("3") });
        Assert.True(put.Header.Revision > 0);

        RangeResponse one = await Channel.UnaryAsync(EtcdProcess.Range, new RangeRequest { Key = Bytes("/fabric/a") });
        Assert.Equal("1", Assert.Single(one.Kvs).Value.ToStringUtf8());
        Assert.Equal(1, one.Kvs[0].Version);

        RangeResponse prefix = await Channel.UnaryAsync(EtcdProcess.Range, new RangeRequest { Key = Bytes("/fabric/"), RangeEnd = Bytes("/fabric0") });
        Assert.Equal(["/fabric/a", "/fabric/b"], prefix.Kvs.Select(kv => kv.Key.ToStringUtf8()));
        Assert.Equal(2, prefix.Count);
    }

    [RequiresFact(EtcdProcess.Binary, "apt-get install etcd-server")]
    public async Task Txn_compare_and_swap_on_the_mod_revision()
    {
        ByteString key = Bytes("/fabric/epoch");
        await Channel.UnaryAsync(EtcdProcess.Put, new PutRequest { Key = key, Value = Bytes("1") });
        long revision = (await Channel.UnaryAsync(EtcdProcess.Range, new RangeRequest { Key = key })).Kvs[0].ModRevision;

        TxnResponse won = await Channel.UnaryAsync(EtcdProcess.Txn, CompareAndSwap(key, revision, "2"));
        Assert.True(won.Succeeded);

        // The same expected revision again is stale now: the swap must fail and the failure branch reads the current value.
        TxnResponse lost = await Channel.UnaryAsync(EtcdProcess.Txn, CompareAndSwap(key, revision, "3"));
        Assert.False(lost.Succeeded);
        Assert.Equal("2", lost.Responses[0].ResponseRange.Kvs[0].Value.ToStringUtf8());
    }

    [RequiresFact(EtcdProcess.Binary, "apt-get install etcd-server")]
    public async Task Lease_grant_keepalive_and_revoke_removes_the_key()
    {
        LeaseGrantResponse lease = await Channel.UnaryAsync(EtcdProcess.LeaseGrant, new LeaseGrantRequest { TTL = 10 });
        Assert.True(lease.ID != 0);
        Assert.Equal(10, lease.TTL);
        await Channel.UnaryAsync(EtcdProcess.Put, new PutRequest { Key = Bytes("/fabric/leader"), Value = Bytes("mon-a"), Lease = lease.ID });

        using (DuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> keepAlive = Channel.DuplexStreaming(EtcdProcess.LeaseKeepAlive))
        {
            for (int i = 0; i < 3; i++)
            {
                await keepAlive.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease.ID });
                Assert.True(await keepAlive.ResponseStream.MoveNextAsync());
                Assert.Equal(lease.ID, keepAlive.ResponseStream.Current.ID);
                Assert.True(keepAlive.ResponseStream.Current.TTL > 0);
            }

            await keepAlive.RequestStream.CompleteAsync();
        }

        await Channel.UnaryAsync(EtcdProcess.LeaseRevoke, new LeaseRevokeRequest { ID = lease.ID });
        RangeResponse gone = await Channel.UnaryAsync(EtcdProcess.Range, new RangeRequest { Key = Bytes("/fabric/leader") });
        Assert.Empty(gone.Kvs);
    }

    [RequiresFact(EtcdProcess.Binary, "apt-get install etcd-server")]
    public async Task Watch_streams_the_put_events()
    {
        using DuplexStreamingCall<WatchRequest, WatchResponse> watch = Channel.DuplexStreaming(EtcdProcess.Watch,
            CallOptions.WithTimeout(TimeSpan.FromSeconds(30)));
        await watch.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = Bytes("/fabric/map") } });
        Assert.True(await watch.ResponseStream.MoveNextAsync());
        Assert.True(watch.ResponseStream.Current.Created);

        await Channel.UnaryAsync(EtcdProcess.Put, new PutRequest { Key = Bytes("/fabric/map"), Value = Bytes("epoch-7") });
        Assert.True(await watch.ResponseStream.MoveNextAsync());
        Event e = Assert.Single(watch.ResponseStream.Current.Events);
        Assert.Equal(Event.Types.EventType.Put, e.Type);
        Assert.Equal("epoch-7", e.Kv.Value.ToStringUtf8());
    }

    [RequiresFact(EtcdProcess.Binary, "apt-get install etcd-server")]
    public async Task Etcd_errors_come_as_trailers_only_and_surface_as_status()
    {
        RpcException noKey = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(EtcdProcess.Put, new PutRequest { Value = Bytes("x") }));
        Assert.Equal(StatusCode.InvalidArgument, noKey.StatusCode);
        Assert.Contains("key is not provided", noKey.Detail);

        RpcException noLease = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(EtcdProcess.LeaseRevoke, new LeaseRevokeRequest { ID = 12345 }));
        Assert.Equal(StatusCode.NotFound, noLease.StatusCode);
        Assert.Contains("lease not found", noLease.Detail);
    }

    private static TxnRequest CompareAndSwap(ByteString key, long expectedModRevision, string value) => new()
    {
        Compare = { new Compare { Key = key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = expectedModRevision } },
        Success = { new RequestOp { RequestPut = new PutRequest { Key = key, Value = Bytes(value) } } },
        Failure = { new RequestOp { RequestRange = new RangeRequest { Key = key } } },
    };

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);
}
