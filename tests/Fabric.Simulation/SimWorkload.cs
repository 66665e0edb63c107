using System.Buffers.Binary;
using Fabric.Client.Objects;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Store;

namespace Fabric.Simulation;

/// <summary>
/// Clients writing unique values into 1 KiB slots of objects (single-slot writes exercise the
/// read-modify-write of 4 KiB blocks) and reading them back. The model keeps, per slot, the last
/// acknowledged value and the one in flight: a read must return one of them, and after healing every
/// slot must hold its last acknowledged value. At each acknowledgement it also checks that the write is
/// durable on at least min_replicas simulated disks.
/// </summary>
public sealed class SimWorkload
{
    public const int SlotBytes = 1024;
    public const int SlotsPerObject = 16;

    private readonly SimCluster _cluster;
    private readonly int _objectsPerClient;
    private readonly int _queueDepth;
    private readonly Dictionary<string, Slot[]> _slots = new();
    private readonly List<string> _objectNames = new();
    private ulong _nextValue = 1;

    private readonly List<SimClient> _clients;

    public SimWorkload(SimCluster cluster, IEnumerable<SimClient> clients, int objectsPerClient = 10, int queueDepth = 4)
    {
        _cluster = cluster;
        _clients = clients.ToList();
        _objectsPerClient = objectsPerClient;
        _queueDepth = queueDepth;
    }

    public bool Stopped { get; set; }

    public long WritesAcked { get; private set; }

    public long ReadsChecked { get; private set; }

    public List<string> Failures { get; } = new();

    public IReadOnlyList<string> ObjectNames => _objectNames;

    public void Start()
    {
        foreach (SimClient client in _clients)
        {
            var names = new List<string>();
            for (int i = 0; i < _objectsPerClient; i++)
            {
                string name = $"c{client.Endpoint}.o{i}";
                names.Add(name);
                _objectNames.Add(name);
                var slots = new Slot[SlotsPerObject];
                for (int s = 0; s < slots.Length; s++)
                {
                    slots[s] = new Slot();
                }
                _slots[name] = slots;
            }
            for (int q = 0; q < _queueDepth; q++)
            {
                IssueLater(client, names);
            }
        }
    }

    private void IssueLater(SimClient client, List<string> names)
    {
        _cluster.Scheduler.After(1000 + _cluster.Random.Next(20_000), () => Issue(client, names));
    }

    private void Issue(SimClient client, List<string> names)
    {
        if (Stopped)
        {
            return;
        }
        Random random = _cluster.Random;
        string name = names[random.Next(names.Count)];
        Slot[] slots = _slots[name];
        if (random.Next(10) < 7)
        {
            bool wide = random.Next(3) == 0;
            int first = wide ? random.Next(SlotsPerObject / 4) * 4 : random.Next(SlotsPerObject);
            int count = wide ? 4 : 1;
            for (int s = first; s < first + count; s++)
            {
                if (slots[s].InFlight != 0)
                {
                    IssueLater(client, names);
                    return;
                }
            }
            ulong value = _nextValue++;
            byte[] data = new byte[count * SlotBytes];
            for (int s = 0; s < count; s++)
            {
                Fill(data.AsSpan(s * SlotBytes, SlotBytes), value, first + s);
                slots[first + s].InFlight = value;
                slots[first + s].History.Add(value);
            }
            var request = new ObjectRequest { Pool = 1, Object = name, Kind = OsdOpKind.OsdOpWrite, Offset = (ulong)(first * SlotBytes), Data = data };
            client.Client.Submit(request, result =>
            {
                if (result.Status != ObjectStatus.Ok)
                {
                    Failures.Add($"write {name}[{first}+{count}] value {value} failed: {result.Status}");
                }
                else
                {
                    CheckDurable(name, result.Version);
                    WritesAcked++;
                }
                for (int s = first; s < first + count; s++)
                {
                    slots[s].Acked = value;
                    slots[s].InFlight = 0;
                }
                IssueLater(client, names);
            });
            return;
        }
        int start = random.Next(SlotsPerObject);
        int length = 1 + random.Next(SlotsPerObject - start);
        byte[] buffer = new byte[length * SlotBytes];
        var snapshot = new (ulong Acked, ulong InFlight, int From)[length];
        for (int s = 0; s < length; s++)
        {
            Slot slot = slots[start + s];
            int from = slot.Acked == 0 ? 0 : slot.History.LastIndexOf(slot.Acked) + 1;
            snapshot[s] = (slot.Acked, slot.InFlight, from);
        }
        var read = new ObjectRequest { Pool = 1, Object = name, Kind = OsdOpKind.OsdOpRead, Offset = (ulong)(start * SlotBytes), Destination = buffer };
        client.Client.Submit(read, result =>
        {
            if (result.Status != ObjectStatus.Ok)
            {
                Failures.Add($"read {name} failed: {result.Status}");
            }
            else
            {
                for (int s = 0; s < length; s++)
                {
                    ulong got = Decode(buffer.AsSpan(s * SlotBytes, SlotBytes), start + s, out bool valid);
                    // Acceptable: the value acknowledged before the read was issued, anything written
                    // since (in flight then or acknowledged meanwhile).
                    Slot slot = slots[start + s];
                    bool ok = valid && (got == snapshot[s].Acked || (got != 0 && slot.History.IndexOf(got, snapshot[s].From) >= 0));
                    if (!ok)
                    {
                        Failures.Add($"read {name} slot {start + s}: got {got} (valid={valid}), acked {snapshot[s].Acked}, in flight {snapshot[s].InFlight} at t={_cluster.Scheduler.NowMs} ms");
                    }
                }
                ReadsChecked++;
            }
            IssueLater(client, names);
        });
    }

    /// <summary>After healing: every slot holds its last acknowledged value.</summary>
    public void VerifyFinal(Action done)
    {
        int pending = 0;
        SimClient client = _clients[0];
        foreach (string name in _objectNames)
        {
            Slot[] slots = _slots[name];
            byte[] buffer = new byte[SlotsPerObject * SlotBytes];
            pending++;
            client.Client.Submit(new ObjectRequest { Pool = 1, Object = name, Kind = OsdOpKind.OsdOpRead, Offset = 0, Destination = buffer }, result =>
            {
                if (result.Status != ObjectStatus.Ok)
                {
                    Failures.Add($"final read {name}: {result.Status}");
                }
                else
                {
                    for (int s = 0; s < SlotsPerObject; s++)
                    {
                        ulong got = Decode(buffer.AsSpan(s * SlotBytes, SlotBytes), s, out bool valid);
                        if (!valid || got != slots[s].Acked || slots[s].InFlight != 0)
                        {
                            Failures.Add($"final {name} slot {s}: got {got} (valid={valid}), last acknowledged {slots[s].Acked}");
                        }
                    }
                }
                if (--pending == 0)
                {
                    done();
                }
            });
        }
    }

    private void CheckDurable(string name, ulong version)
    {
        PoolInfo pool = _cluster.Monitor.Current.Pools[0];
        PgId pg = PlacementMap.ObjectToPg(pool, name);
        Span<byte> key = stackalloc byte[StoreKeys.MaxNameBytes + 16];
        int n = StoreKeys.Named(key, StoreKeys.ObjectKind, pg.Packed, name);
        int durable = 0;
        foreach (SimNode node in _cluster.Nodes.Values)
        {
            byte[]? meta = node.Disk.GetDurable(key[..n]);
            if (meta is not null && meta.Length == 16 && BinaryPrimitives.ReadUInt64LittleEndian(meta) >= version)
            {
                durable++;
            }
        }
        if (durable < pool.MinReplicas)
        {
            Failures.Add($"write {name} version {version:x} acknowledged while durable on {durable} disks at t={_cluster.Scheduler.NowMs} ms");
        }
    }

    private static void Fill(Span<byte> slot, ulong value, int index)
    {
        for (int i = 0; i < slot.Length; i += 16)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(slot[i..], value);
            BinaryPrimitives.WriteUInt64LittleEndian(slot[(i + 8)..], value ^ (ulong)(index * 0x9E3779B9));
        }
    }

    private static ulong Decode(ReadOnlySpan<byte> slot, int index, out bool valid)
    {
        ulong value = BinaryPrimitives.ReadUInt64LittleEndian(slot);
        valid = true;
        if (value == 0)
        {
            foreach (byte b in slot)
            {
                if (b != 0)
                {
                    valid = false;
                    break;
                }
            }
            return 0;
        }
        for (int i = 0; i < slot.Length; i += 16)
        {
            if (BinaryPrimitives.ReadUInt64LittleEndian(slot[i..]) != value || BinaryPrimitives.ReadUInt64LittleEndian(slot[(i + 8)..]) != (value ^ (ulong)(index * 0x9E3779B9)))
            {
                valid = false;
                break;
            }
        }
        return value;
    }

    private sealed class Slot
    {
        public ulong Acked;
        public ulong InFlight;
        public readonly List<ulong> History = new();
    }
}
