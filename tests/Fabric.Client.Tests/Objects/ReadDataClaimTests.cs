using Fabric.Client.Objects;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Client.Tests.Objects;

/// <summary>
/// Read replies received straight into the caller's buffer (ObjectClient.ClaimReadData): only one reply of an op
/// ever writes into its destination, a claim that fails (the connection ended inside the data) puts the op back
/// for a resend, and replies that do not fit are left to the usual path.
/// </summary>
public sealed class ReadDataClaimTests
{
    private sealed class FakeTransport : IClientTransport
    {
        public long NowMs { get; set; } = 1000;

        public List<(int Osd, ClientOp Op)> Sent { get; } = new();

        public void Send(int osd, NodeInfo node, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data) =>
            Sent.Add((osd, (ClientOp)header));
    }

    private static (ObjectClient Client, FakeTransport Transport) NewClient()
    {
        var map = new ClusterMap { Epoch = 5, ClusterName = "t", Fsid = "t", NextNodeId = 4, NextPoolId = 2, NextVolumeId = 1, NextSnapId = 1 };
        for (uint i = 1; i <= 3; i++)
        {
            map.Nodes.Add(new NodeInfo { Id = i, Name = $"n{i}", FailureDomain = $"h{i}", Weight = 1, State = NodeState.Up, In = true, Incarnation = 1, StorageAddress = $"127.0.0.{i}:6800" });
        }
        map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = 3, MinReplicas = 2, PgCount = 8, FailureDomain = "host" });
        var transport = new FakeTransport();
        var client = new ObjectClient("test-client", transport, resendTimeoutMs: 5000);
        client.OnMap(map);
        return (client, transport);
    }

    private static ClientOpReply Ok(ClientOp op) => new() { Tid = op.Tid, Status = OsdStatus.Ok, Version = 7, ObjectSize = 65536, Exists = true };

    [Fact]
    public void A_claimed_read_completes_once_its_data_is_in_and_no_other_reply_touches_its_buffer()
    {
        var (client, transport) = NewClient();
        var buffer = new byte[65536];
        var results = new List<ObjectResult>();
        client.Submit(new ObjectRequest { Pool = 1, Object = "obj", Kind = OsdOpKind.OsdOpRead, Destination = buffer }, results.Add);
        ClientOp sent = Assert.Single(transport.Sent).Op;

        Assert.Null(client.ClaimReadData(Ok(sent), 4096)); // not the op's length: the usual path decides
        Assert.Null(client.ClaimReadData(new ClientOpReply { Tid = sent.Tid, Status = OsdStatus.NotPrimary }, 65536));
        var target = client.ClaimReadData(Ok(sent), 65536);
        Assert.NotNull(target);
        Assert.True(target!.Destination.Span == buffer.AsSpan()); // the caller's own buffer, no copy
        // A duplicate of the reply finds nothing to claim, and through OnMessage nothing to complete.
        Assert.Null(client.ClaimReadData(Ok(sent), 65536));
        client.OnMessage(1, StorageMessageType.MsgClientOpReply, Ok(sent), Fabric.Client.Messaging.DataBuffer.CopyOf(new byte[65536]));
        Assert.Empty(results);
        new Random(1).NextBytes(target.Destination.Span);
        target.Complete(received: true);
        ObjectResult result = Assert.Single(results);
        Assert.Equal(ObjectStatus.Ok, result.Status);
        Assert.Equal(7UL, result.Version);
        Assert.Equal(0, client.Outstanding);
    }

    [Fact]
    public void A_claim_whose_connection_ended_puts_the_read_back_and_the_tick_resends_it()
    {
        var (client, transport) = NewClient();
        var buffer = new byte[65536];
        var results = new List<ObjectResult>();
        client.Submit(new ObjectRequest { Pool = 1, Object = "obj", Kind = OsdOpKind.OsdOpRead, Destination = buffer }, results.Add);
        ClientOp first = transport.Sent[0].Op;
        var target = client.ClaimReadData(Ok(first), 65536)!;
        target.Complete(received: false);
        Assert.Empty(results);
        Assert.Equal(1, client.Outstanding);
        // The late rest of the first reply (its old transaction id) can no longer claim it.
        Assert.Null(client.ClaimReadData(Ok(first), 65536));

        transport.NowMs += 10_000;
        client.Tick();
        Assert.Equal(2, transport.Sent.Count);
        ClientOp resent = transport.Sent[1].Op;
        Assert.NotEqual(first.Tid, resent.Tid);
        Assert.Equal(first.RequestSeq, resent.RequestSeq); // the same request, idempotent on the OSD
        var again = client.ClaimReadData(Ok(resent), 65536)!;
        again.Complete(received: true);
        Assert.Equal(ObjectStatus.Ok, Assert.Single(results).Status);
    }
}
