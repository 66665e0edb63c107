using Fabric.Client.Messaging;
using Fabric.Core.Map;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Fabric.Storage.Tests;

/// <summary>
/// Two <see cref="OsdCore"/>s (osd.1 and osd.2) on one thread, a pool of two replicas with min_replicas 2, and one
/// FIFO of events that stands for the network and the stores' durability callbacks: <see cref="Pump"/> runs it
/// until it is empty, so every test is deterministic. Messages between OSDs can be held back (<see cref="Hold"/>)
/// and let go later (<see cref="Release"/>); time moves only by <see cref="Tick"/>. Stores are memory stores,
/// durable when written, whose callbacks are queued as the node's host posts them.
/// </summary>
internal sealed class OsdPair
{
    private const long Connection = 7;
    private readonly Queue<Action> _events = new();
    private readonly List<(int From, int To, StorageMessageType Type, IMessage Header, byte[] Data)> _held = new();
    private readonly Dictionary<int, Member> _members = new();
    private ulong _tid;

    public OsdPair(OsdOptions options, ILogger logger, bool osd2Up = true)
    {
        Map = MapTransactions.Genesis("pair", "pair", new ClusterSettings { HeartbeatIntervalMs = 500, HeartbeatGraceMs = 3000, DownOutIntervalMs = 60000 }, new MonitorSet(), 0);
        for (uint id = 1; id <= 2; id++)
        {
            Map.Nodes.Add(new NodeInfo
            {
                Id = id, Name = $"n{id}", FailureDomain = $"host{id}", Weight = 1, In = true, Incarnation = 1, StorageAddress = $"local:{id}",
                State = id == 1 || osd2Up ? NodeState.Up : NodeState.Down,
            });
        }
        Map.NextNodeId = 3;
        Map.Pools.Add(new PoolInfo { Id = 1, Name = "rbd", Replicas = 2, MinReplicas = 2, PgCount = 8, FailureDomain = "host" });
        Map.NextPoolId = 2;
        foreach (int id in new[] { 1, 2 })
        {
            var member = new Member(this, id);
            member.Core = new OsdCore(id, member.Store, member, options, logger);
            _members[id] = member;
            member.Core.Start();
        }
        Core(1).OnClientHello(Connection, "client.test");
        Deliver();
    }

    public ClusterMap Map { get; private set; }

    public long NowMs { get; private set; } = 1000;

    /// <summary>Messages between OSDs for which this returns true are held back until <see cref="Release"/>.</summary>
    public Func<int, int, StorageMessageType, bool>? Hold { get; set; }

    public List<ClientOpReply> Replies { get; } = new();

    /// <summary>The data of replies that carried some, by transaction id.</summary>
    public Dictionary<ulong, byte[]> ReadData { get; } = new();

    public OsdCore Core(int id) => _members[id].Core;

    /// <summary>A name whose PG osd.1 leads once both OSDs are up (with osd.2 down it leads every PG).</summary>
    public string ObjectLedBy1()
    {
        var both = Map.Clone();
        foreach (NodeInfo node in both.Nodes)
        {
            node.State = NodeState.Up;
        }
        PlacementMap placement = PlacementMap.Build(both);
        for (int i = 0; ; i++)
        {
            string name = $"vol.data.{i:x4}";
            if (placement.Get(PlacementMap.ObjectToPg(both.Pools[0], name))!.Primary == 1)
            {
                return name;
            }
        }
    }

    public PgId PgOf(string name) => PlacementMap.ObjectToPg(Map.Pools[0], name);

    /// <summary>A newer map: the change is applied to a copy, its epoch bumped, and both OSDs get it.</summary>
    public void ChangeMap(Action<ClusterMap> change)
    {
        ClusterMap next = Map.Clone();
        change(next);
        next.Epoch = Map.Epoch + 1;
        Map = next;
        Deliver();
    }

    /// <summary>A client write to osd.1 with the current map epoch; returns the op as sent.</summary>
    public ClientOp Write(string name, int length)
    {
        var op = new ClientOp
        {
            Tid = ++_tid, RequestSeq = _tid, MapEpoch = Map.Epoch, Pool = 1, PgSeed = PgOf(name).Seed, Object = name,
            Kind = OsdOpKind.OsdOpWrite, Length = (uint)length,
        };
        DataBuffer data = DataBuffer.CopyOf(new byte[length]);
        Core(1).OnClientMessage(Connection, StorageMessageType.MsgClientOp, op, data);
        data.Release();
        Pump();
        return op;
    }

    /// <summary>A client read from osd.1 with the current map epoch; returns the op as sent (its data: <see cref="ReadData"/>).</summary>
    public ClientOp Read(string name, int length)
    {
        var op = new ClientOp
        {
            Tid = ++_tid, RequestSeq = _tid, MapEpoch = Map.Epoch, Pool = 1, PgSeed = PgOf(name).Seed, Object = name,
            Kind = OsdOpKind.OsdOpRead, Length = (uint)length,
        };
        Core(1).OnClientMessage(Connection, StorageMessageType.MsgClientOp, op, DataBuffer.Empty);
        Pump();
        return op;
    }

    /// <summary>A client's resend of <paramref name="op"/> (same request id, a new transaction id) with
    /// <paramref name="data"/>, which the OSD takes a reference of; returns the copy as sent.</summary>
    public ClientOp Resend(ClientOp op, DataBuffer data)
    {
        ClientOp copy = op.Clone();
        copy.Tid = ++_tid;
        Core(1).OnClientMessage(Connection, StorageMessageType.MsgClientOp, copy, data);
        Pump();
        return copy;
    }

    /// <summary>Moves time and ticks both OSDs.</summary>
    public void Tick(long ms)
    {
        NowMs += ms;
        foreach (Member member in _members.Values)
        {
            member.Core.Tick();
        }
        Pump();
    }

    /// <summary>Runs queued events (messages, durability callbacks) until none is left.</summary>
    public void Pump()
    {
        for (int i = 0; _events.Count > 0; i++)
        {
            if (i > 100_000)
            {
                throw new InvalidOperationException("the OSDs keep messaging each other without end");
            }
            _events.Dequeue()();
        }
    }

    /// <summary>Stops holding messages and delivers the held ones, in the order they were sent.</summary>
    public void Release()
    {
        Hold = null;
        foreach ((int from, int to, StorageMessageType type, IMessage header, byte[] data) in _held)
        {
            Enqueue(from, to, type, header, data);
        }
        _held.Clear();
        Pump();
    }

    private void Deliver()
    {
        foreach (Member member in _members.Values)
        {
            member.Core.OnMap(Map);
        }
        Pump();
    }

    private void Send(int from, int to, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
    {
        byte[] copy = data.ToArray();
        if (Hold?.Invoke(from, to, type) == true)
        {
            _held.Add((from, to, type, header, copy));
            return;
        }
        Enqueue(from, to, type, header, copy);
    }

    private void Enqueue(int from, int to, StorageMessageType type, IMessage header, byte[] data) =>
        _events.Enqueue(() =>
        {
            DataBuffer buffer = DataBuffer.CopyOf(data);
            _members[to].Core.OnOsdMessage(from, type, header, buffer);
            buffer.Release();
        });

    private sealed class Member(OsdPair pair, int id) : IOsdEnvironment
    {
        public MemoryObjectStore Store { get; } = new(autoSync: true);

        public OsdCore Core { get; set; } = null!;

        public long NowMs => pair.NowMs;

        public void SendToOsd(int osd, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data) => pair.Send(id, osd, type, header, data);

        public void SendToClient(long connection, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
        {
            var reply = (ClientOpReply)header;
            pair.Replies.Add(reply);
            if (data.Length > 0)
            {
                pair.ReadData[reply.Tid] = data.ToArray();
            }
        }

        // Durable at once, but the callback is queued like the host's posted one (no re-entry into the core).
        public void Commit(IStoreBatch batch, Action? onDurable) =>
            Store.Write(batch, onDurable is null ? null : () => pair._events.Enqueue(onDurable));

        public void ReportFailure(int osd, string reason)
        {
        }
    }
}
