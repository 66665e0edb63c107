using Fabric.Client.Messaging;
using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;
using Google.Protobuf;

namespace Fabric.Storage.Tests;

/// <summary>
/// One <see cref="OsdCore"/> on one thread with a memory store that is durable at once: a pool of one
/// replica, so every op completes inside the call. For exhaustive tests of the object semantics
/// (snapshots, clones, rollback, trim, locks) without a network.
/// </summary>
internal sealed class SingleOsd : IOsdEnvironment
{
    private const long Connection = 7;
    private readonly List<(ClientOpReply Reply, byte[] Data)> _replies = new();
    private ulong _tid;
    private ulong _seq;

    public SingleOsd(string identity = "client.test")
    {
        Identity = identity;
        Store = new MemoryObjectStore(autoSync: true);
        Map = MapTransactions.Genesis("single", "single", new ClusterSettings { HeartbeatIntervalMs = 500, HeartbeatGraceMs = 3000, DownOutIntervalMs = 60000 }, new MonitorSet(), 0);
        Map.Nodes.Add(new NodeInfo { Id = 1, Name = "n1", FailureDomain = "host1", Weight = 1, State = NodeState.Up, In = true, Incarnation = 1, StorageAddress = "local:1" });
        Map.NextNodeId = 2;
        Map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = 1, MinReplicas = 1, PgCount = 4, FailureDomain = "host" });
        Map.NextPoolId = 2;
        Core = new OsdCore(1, Store, this, new OsdOptions { ScrubIntervalMs = 0, DeepScrubIntervalMs = 0 });
        Core.Start();
        Core.OnMap(Map);
        Core.OnClientHello(Connection, identity);
    }

    public string Identity { get; }

    public MemoryObjectStore Store { get; }

    public OsdCore Core { get; }

    public ClusterMap Map { get; private set; }

    public long NowMs { get; set; }

    /// <summary>Applies map changes as the monitor would (validated by MapTransactions) and hands the new map to the OSD.</summary>
    public ulong Apply(params MapChange[] changes)
    {
        var transaction = new MapTransaction();
        transaction.Changes.AddRange(changes);
        MapApplyResult result = MapTransactions.Apply(Map, transaction, 0);
        if (result.Map is null)
        {
            throw new InvalidOperationException(result.Error!.Message);
        }
        Map = result.Map;
        Core.OnMap(Map);
        return Map.Epoch;
    }

    /// <summary>Runs one op to completion: the reply and the data it carried.</summary>
    public (ClientOpReply Reply, byte[] Data) Execute(ClientOp op, ReadOnlySpan<byte> data = default)
    {
        op.Tid = ++_tid;
        op.RequestSeq = ++_seq;
        op.MapEpoch = Map.Epoch;
        op.Pool = 1;
        op.PgSeed = Fabric.Core.Placement.PlacementMap.ObjectToPg(Map.Pools[0], op.Object).Seed;
        if (op.Kind is OsdOpKind.OsdOpWrite or OsdOpKind.OsdOpCopyUp)
        {
            op.Length = (uint)data.Length;
        }
        _replies.Clear();
        DataBuffer buffer = DataBuffer.CopyOf(data);
        Core.OnClientMessage(Connection, StorageMessageType.MsgClientOp, op, buffer);
        buffer.Release();
        // Trims and other internal work run on ticks.
        for (int i = 0; i < 3 && _replies.Count == 0; i++)
        {
            Tick();
        }
        if (_replies.Count != 1)
        {
            throw new InvalidOperationException($"{_replies.Count} replies to {op}");
        }
        return _replies[0];
    }

    public void Tick()
    {
        NowMs += 100;
        Core.Tick();
    }

    public void SendToOsd(int osd, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
    {
    }

    public void SendToClient(long connection, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data) =>
        _replies.Add(((ClientOpReply)header, data.ToArray()));

    public void Commit(IStoreBatch batch, Action? onDurable) => Store.Write(batch, onDurable);

    public void ReportFailure(int osd, string reason)
    {
    }
}
