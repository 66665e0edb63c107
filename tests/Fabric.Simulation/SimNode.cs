using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;
using Google.Protobuf;

namespace Fabric.Simulation;

/// <summary>
/// One simulated node: the real <see cref="OsdCore"/> on a <see cref="MemoryObjectStore"/> disk that
/// survives crashes (losing what was not synced), with simulated fsync latency, ticks and heartbeats.
/// </summary>
public sealed class SimNode : IOsdEnvironment
{
    private readonly SimCluster _cluster;
    private readonly Random _random;
    private bool _syncScheduled;

    public SimNode(SimCluster cluster, int id, Random random)
    {
        _cluster = cluster;
        Id = id;
        _random = random;
        // Every other seed places every whole-block write in the slot file (the node's threshold is 16 blocks, more
        // than a simulated object holds), so crashes and recovery meet placed blocks as often as inline ones.
        Disk = new MemoryObjectStore(autoSync: false, placedWriteBlocks: cluster.Seed % 2 == 0 ? 1 : ObjectBlocks.PlacedWriteBlocks);
    }

    public int Id { get; }

    public MemoryObjectStore Disk { get; }

    public OsdCore? Core { get; private set; }

    public bool Alive => Core is not null;

    public int Generation { get; private set; }

    public ulong Incarnation { get; private set; }

    public ulong DeliveredEpoch { get; set; }

    /// <summary>Times the monitor marked this node down while it ran and it rejoined (<see cref="Rejoin"/>).</summary>
    public int Rejoins { get; private set; }

    public long NowMs => _cluster.Scheduler.NowMs;

    public void Start()
    {
        Generation++;
        Incarnation++;
        DeliveredEpoch = 0;
        Core = new OsdCore(Id, Disk, this, _cluster.OsdOptions with { Incarnation = Incarnation });
        Core.EntryCreated = entry => _cluster.EntryCreated?.Invoke(Id, entry);
        Core.Start();
        int generation = Generation;
        ScheduleTick(generation);
        ScheduleHeartbeat(generation);
    }

    /// <summary>kill -9 plus power loss: the process state and unsynced writes are gone.</summary>
    public void Crash()
    {
        Disk.Crash();
        Core = null;
        Generation++;
        _syncScheduled = false;
    }

    public void SendToOsd(int osd, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
    {
        _cluster.Network.Send(Id, osd, type, header, data, (t, h, d) => _cluster.Nodes[osd].Core?.OnOsdMessage(Id, t, h, d));
    }

    public void SendToClient(long connection, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data)
    {
        int client = (int)connection;
        _cluster.Network.Send(Id, client, type, header, data, (t, h, d) => _cluster.ClientById(client)?.Client.OnMessage(Id, t, h, d));
    }

    public void Commit(IStoreBatch batch, Action? onDurable)
    {
        int generation = Generation;
        Disk.Write(batch, onDurable is null ? null : () =>
        {
            if (Generation == generation)
            {
                onDurable();
            }
        });
        if (!_syncScheduled)
        {
            _syncScheduled = true;
            // fsync latency: the group commit of everything written so far.
            _cluster.Scheduler.After(80 + _random.Next(170), () =>
            {
                if (Generation != generation)
                {
                    return;
                }
                _syncScheduled = false;
                Disk.Sync();
            });
        }
    }

    public void ReportFailure(int osd, string reason)
    {
    }

    private void ScheduleTick(int generation)
    {
        _cluster.Scheduler.After(100_000, () =>
        {
            if (Generation != generation || Core is null)
            {
                return;
            }
            Core.Tick();
            ScheduleTick(generation);
        });
    }

    private void ScheduleHeartbeat(int generation)
    {
        _cluster.Scheduler.After(500_000, () =>
        {
            if (Generation != generation || Core is null)
            {
                return;
            }
            Heartbeat(generation);
            ScheduleHeartbeat(generation);
        });
        if (Core is not null && _cluster.Network.Connected(Id, SimNetwork.MonitorEndpoint))
        {
            Heartbeat(generation);
        }
    }

    private void Heartbeat(int generation)
    {
        if (_cluster.Monitor.Heartbeat(Id, Incarnation) is false)
        {
            Rejoin(generation);
        }
    }

    /// <summary>
    /// The monitor marked this node down while it kept running: it rejoins as a new incarnation, as NodeMembership
    /// does, and the running OSD adopts it. On a node the OSD learns it from an event posted to its loop after the
    /// rejoin's map was offered to the map watch, and a rejoin while the OSD starts is read once it has started, so
    /// the OSD may get the incarnation before or after the map that names it: a random delay covers both orders.
    /// </summary>
    private void Rejoin(int generation)
    {
        Rejoins++;
        Incarnation++;
        ulong incarnation = Incarnation;
        _cluster.Monitor.Heartbeat(Id, incarnation);
        _cluster.Note?.Invoke($"n{Id} marked down while running: rejoins as incarnation {incarnation}");
        _cluster.Scheduler.After(_random.Next(150_000), () =>
        {
            if (Generation == generation)
            {
                Core?.OnIncarnation(incarnation);
            }
        });
    }
}
