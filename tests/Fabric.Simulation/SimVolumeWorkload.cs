using System.Buffers.Binary;
using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Simulation;

/// <summary>
/// A volume with an exclusive lock, snapshots and a fencing event, on top of the simulated cluster.
/// </summary>
/// <remarks>
/// <para>Client A takes the volume's lock and writes unique values into 1 KiB slots of its objects,
/// carrying the lock epoch and the snapshot context of its map. Now and then writes pause, a snapshot is
/// taken (the model records every slot) and writes resume once the writer's map has it; snapshots are
/// read back (they must hold exactly what the model recorded), deleted (snap trim), and the volume is
/// rolled back to one. Once per run A is cut off from the monitor, blocklisted and its lock broken and
/// given to client B, which writes on while A keeps trying with its stale map.</para>
/// <para>Checkers: (1) no log entry of a blocklisted identity is ever created by a primary whose map has
/// the blocklist (the fence epoch); (2) per object, no write of A is acknowledged with a version above the
/// first acknowledged write of B (A never lands after the new owner); (3) reads of the head return the
/// last acknowledged value or a newer one, snapshot reads their recorded value (or a value of A's that a
/// stale primary may have applied before the fence), and after healing every slot holds its last
/// acknowledged value.</para>
/// </remarks>
public sealed class SimVolumeWorkload
{
    public const int SlotBytes = 1024;
    public const int Objects = 4;
    public const int SlotsPerObject = 16;
    public const uint ObjectSize = 64 << 10;
    private const string VolumeName = "vm";

    private readonly SimCluster _cluster;
    private readonly SimClient _a;
    private readonly SimClient _b;
    private readonly Slot[][] _slots;
    private readonly List<Snapshot> _snapshots = new();
    private readonly Dictionary<int, ulong> _firstAckedB = new();
    private readonly Dictionary<int, ulong> _maxAckedA = new();
    private SimClient? _owner;
    private ulong _ownerLockEpoch;
    private ulong _volumeId;
    private ulong _nextValue = 1_000_000;
    /// <summary>The owner's ops in flight (writes and head reads): a quiesce waits for none.</summary>
    private int _ownerWritesInFlight;
    private bool _quiesced;
    private ulong _fenceEpoch;
    private int _snapCounter;
    private bool _rollingBack;

    public SimVolumeWorkload(SimCluster cluster, SimClient a, SimClient b, List<string> failures)
    {
        _cluster = cluster;
        _a = a;
        _b = b;
        Failures = failures;
        _slots = new Slot[Objects][];
        for (int o = 0; o < Objects; o++)
        {
            _slots[o] = new Slot[SlotsPerObject];
            for (int s = 0; s < SlotsPerObject; s++)
            {
                _slots[o][s] = new Slot();
            }
        }
        _cluster.EntryCreated += CheckEntry;
    }

    public List<string> Failures { get; }

    public bool Stopped { get; set; }

    public long WritesAcked { get; private set; }

    public long SnapshotReadsChecked { get; private set; }

    public int SnapshotsTaken { get; private set; }

    public int Rollbacks { get; private set; }

    public long FencedRefusals { get; private set; }

    public bool Fenced => _fenceEpoch != 0;

    public Action<string>? Note { get; set; }

    public void Start()
    {
        (ulong epoch, string? error) = _cluster.Monitor.Propose(new MapChange
        {
            VolumeCreate = new VolumeCreate { Volume = new VolumeInfo { Name = VolumeName, PoolId = 1, SizeBytes = Objects * ObjectSize, ObjectSizeBytes = ObjectSize } },
        });
        Require(error);
        _volumeId = _cluster.Monitor.Current.FindVolume(VolumeName)!.Id;
        TakeLock(_a, () =>
        {
            for (int q = 0; q < 4; q++)
            {
                IssueLater();
            }
            ScheduleMaintenance();
        });
        _ = epoch;
    }

    /// <summary>Cuts A off from the monitor, blocklists it, breaks its lock and gives the lock to B.</summary>
    public void Fence()
    {
        if (_fenceEpoch != 0 || _owner != _a || _rollingBack)
        {
            return; // Not while A rolls back: which objects it rolled back would be unknown.
        }
        _cluster.Network.Cut(_a.Endpoint, SimNetwork.MonitorEndpoint);
        _owner = null;
        _ownerWritesInFlight = 0;
        foreach (Slot[] slots in _slots)
        {
            foreach (Slot slot in slots)
            {
                if (slot.InFlight != 0)
                {
                    // A's write in flight may or may not land (before the fence only): uncertain.
                    slot.FencedValues.Add(slot.InFlight);
                    slot.InFlight = 0;
                }
            }
        }
        VolumeInfo volume = _cluster.Monitor.Current.FindVolume(VolumeName)!;
        (ulong fence, string? error) = _cluster.Monitor.Propose(VolumeLocks.BreakChanges(volume, "simulated: node declared dead"));
        Require(error);
        _fenceEpoch = fence;
        Note?.Invoke($"fence {_a.Client.Identity} at epoch {fence}; lock goes to {_b.Client.Identity}");
        TakeLock(_b, () => { });
        FencedWriterLater();
    }

    private void TakeLock(SimClient client, Action then)
    {
        (ulong epoch, string? error) = _cluster.Monitor.Propose(new MapChange
        {
            VolumeLock = new VolumeLockChange { Volume = VolumeName, Op = "acquire", Owner = client.Client.Identity, Description = "sim" },
        });
        Require(error);
        WhenClientHas(client, epoch, () =>
        {
            _owner = client;
            _ownerLockEpoch = _cluster.Monitor.Current.FindVolume(VolumeName)!.Lock.AcquiredEpoch;
            then();
        });
    }

    private void WhenClientHas(SimClient client, ulong epoch, Action action)
    {
        if (client.Client.Epoch >= epoch)
        {
            action();
            return;
        }
        _cluster.Scheduler.After(50_000, () => WhenClientHas(client, epoch, action));
    }

    private void Require(string? error)
    {
        if (error is not null)
        {
            Failures.Add("volume workload map change refused: " + error);
        }
    }

    private void IssueLater() => _cluster.Scheduler.After(1000 + _cluster.Random.Next(30_000), Issue);

    private void Issue()
    {
        if (Stopped)
        {
            return;
        }
        if (_quiesced || _owner is null)
        {
            IssueLater();
            return;
        }
        Random random = _cluster.Random;
        int roll = random.Next(10);
        if (roll < 6)
        {
            Write(_owner);
        }
        else if (roll < 8 || _snapshots.Count == 0)
        {
            ReadHead(_owner);
        }
        else
        {
            ReadSnapshot(_owner);
        }
    }

    private (ulong Seq, ulong[] Snaps) SnapContext(SimClient client)
    {
        VolumeInfo? volume = client.Client.Map?.FindVolume(_volumeId);
        return volume is null ? (0, []) : (volume.SnapSeq, volume.Snapshots.Select(s => s.Id).ToArray());
    }

    private void Write(SimClient owner)
    {
        Random random = _cluster.Random;
        int obj = random.Next(Objects);
        int first = random.Next(SlotsPerObject);
        Slot slot = _slots[obj][first];
        if (slot.InFlight != 0)
        {
            IssueLater();
            return;
        }
        ulong value = _nextValue++;
        slot.InFlight = value;
        slot.History.Add(value);
        _ownerWritesInFlight++;
        bool isB = owner == _b;
        SubmitWrite(owner, _ownerLockEpoch, obj, first, value, result =>
        {
            if (owner == _owner)
            {
                _ownerWritesInFlight--;
            }
            if (slot.InFlight == value)
            {
                slot.InFlight = 0;
            }
            if (result.Status == ObjectStatus.Ok)
            {
                WritesAcked++;
                Acked(slot, value, result.Version);
                if (!isB)
                {
                    _maxAckedA[obj] = Math.Max(_maxAckedA.GetValueOrDefault(obj), result.Version);
                    CheckOrder(obj);
                }
                if (isB)
                {
                    slot.WrittenByB = true;
                    if (!_firstAckedB.ContainsKey(obj))
                    {
                        _firstAckedB[obj] = result.Version;
                    }
                    CheckOrder(obj);
                }
            }
            else if (owner == _a && _fenceEpoch != 0 && result.Status is ObjectStatus.Fenced or ObjectStatus.NotLockOwner)
            {
                slot.FencedValues.Add(value);
                FencedRefusals++;
            }
            else
            {
                Failures.Add($"volume write {Name(obj)} slot {first} value {value} by {owner.Client.Identity} failed: {result.Status} at t={_cluster.Scheduler.NowMs} ms");
            }
            IssueLater();
        });
    }

    private void SubmitWrite(SimClient client, ulong lockEpoch, int obj, int slotIndex, ulong value, Action<ObjectResult> done)
    {
        (ulong seq, ulong[] snaps) = SnapContext(client);
        byte[] data = new byte[SlotBytes];
        Fill(data, value, obj * SlotsPerObject + slotIndex);
        client.Client.Submit(new ObjectRequest
        {
            Pool = 1,
            Object = Name(obj),
            Kind = OsdOpKind.OsdOpWrite,
            Offset = (ulong)(slotIndex * SlotBytes),
            Data = data,
            SnapSeq = seq,
            Snaps = snaps,
            LockEpoch = lockEpoch,
        }, done);
    }

    private static void Acked(Slot slot, ulong value, ulong version)
    {
        if (version > slot.AckedVersion)
        {
            slot.Acked = value;
            slot.AckedVersion = version;
        }
    }

    /// <summary>A, fenced, keeps writing with its stale map and old lock epoch.</summary>
    private void FencedWriterLater() => _cluster.Scheduler.After(20_000 + _cluster.Random.Next(80_000), FencedWrite);

    private void FencedWrite()
    {
        if (Stopped)
        {
            return;
        }
        Random random = _cluster.Random;
        int obj = random.Next(Objects);
        int index = random.Next(SlotsPerObject);
        Slot slot = _slots[obj][index];
        if (slot.FencedPending > 0)
        {
            FencedWriterLater();
            return;
        }
        ulong value = _nextValue++;
        slot.FencedValues.Add(value);
        slot.History.Add(value);
        slot.FencedPending++;
        ulong lockEpoch = _a.Client.Map?.FindVolume(_volumeId)?.Lock?.AcquiredEpoch ?? 0;
        SubmitWrite(_a, lockEpoch, obj, index, value, result =>
        {
            slot.FencedPending--;
            if (result.Status == ObjectStatus.Ok)
            {
                // Only a primary that had not seen the fence may have taken it.
                Acked(slot, value, result.Version);
                _maxAckedA[obj] = Math.Max(_maxAckedA.GetValueOrDefault(obj), result.Version);
                CheckOrder(obj);
            }
            else if (result.Status is ObjectStatus.Fenced or ObjectStatus.NotLockOwner)
            {
                FencedRefusals++;
            }
            FencedWriterLater();
        });
    }

    /// <summary>Checker 2: A never lands after B on the same object.</summary>
    private void CheckOrder(int obj)
    {
        if (_firstAckedB.TryGetValue(obj, out ulong b) && _maxAckedA.TryGetValue(obj, out ulong a) && a > b)
        {
            Failures.Add($"fenced {_a.Client.Identity} acknowledged at version {a:x} after the new owner's first write {b:x} on {Name(obj)}");
        }
    }

    /// <summary>Checker 1: no primary that knows the fence creates an entry for the fenced identity.</summary>
    private void CheckEntry(int osd, PgLogEntry entry)
    {
        if (entry.Client.Length == 0 || _fenceEpoch == 0 || entry.MapEpoch < _fenceEpoch)
        {
            return;
        }
        if (_cluster.Monitor.MapAt(entry.MapEpoch).IsBlocklisted(entry.Client))
        {
            Failures.Add($"osd.{osd} applied a write of blocklisted {entry.Client} to {entry.Object} with map epoch {entry.MapEpoch} (fenced at {_fenceEpoch})");
        }
    }

    private void ReadHead(SimClient client)
    {
        _ownerWritesInFlight++;
        Random random = _cluster.Random;
        int obj = random.Next(Objects);
        var snapshot = new (ulong Acked, int From)[SlotsPerObject];
        for (int s = 0; s < SlotsPerObject; s++)
        {
            Slot slot = _slots[obj][s];
            snapshot[s] = (slot.Acked, slot.Acked == 0 ? 0 : slot.History.LastIndexOf(slot.Acked) + 1);
        }
        byte[] buffer = new byte[SlotsPerObject * SlotBytes];
        client.Client.Submit(new ObjectRequest { Pool = 1, Object = Name(obj), Kind = OsdOpKind.OsdOpRead, Destination = buffer }, result =>
        {
            if (client == _owner)
            {
                _ownerWritesInFlight--;
            }
            if (result.Status != ObjectStatus.Ok)
            {
                Failures.Add($"volume read {Name(obj)} failed: {result.Status}");
            }
            else
            {
                for (int s = 0; s < SlotsPerObject; s++)
                {
                    ulong got = Decode(buffer.AsSpan(s * SlotBytes, SlotBytes), obj * SlotsPerObject + s, out bool valid);
                    Slot slot = _slots[obj][s];
                    bool ok = valid && (got == snapshot[s].Acked || (got != 0 && slot.History.IndexOf(got, snapshot[s].From) >= 0));
                    if (!ok)
                    {
                        Failures.Add($"volume read {Name(obj)} slot {s}: got {got} (valid={valid}), acknowledged {snapshot[s].Acked} at t={_cluster.Scheduler.NowMs} ms");
                    }
                }
            }
            IssueLater();
        });
    }

    private void ReadSnapshot(SimClient client)
    {
        Random random = _cluster.Random;
        Snapshot snap = _snapshots[random.Next(_snapshots.Count)];
        int obj = random.Next(Objects);
        byte[] buffer = new byte[SlotsPerObject * SlotBytes];
        client.Client.Submit(new ObjectRequest { Pool = 1, Object = Name(obj), Kind = OsdOpKind.OsdOpRead, Destination = buffer, SnapId = snap.Id }, result =>
        {
            if (snap.Deleted)
            {
                // Deleted meanwhile: what a trimmed snapshot reads is not defined.
            }
            else if (result.Status != ObjectStatus.Ok)
            {
                Failures.Add($"snapshot read {Name(obj)}@{snap.Id} failed: {result.Status}");
            }
            else
            {
                SnapshotReadsChecked++;
                for (int s = 0; s < SlotsPerObject; s++)
                {
                    ulong got = Decode(buffer.AsSpan(s * SlotBytes, SlotBytes), obj * SlotsPerObject + s, out bool valid);
                    Slot slot = _slots[obj][s];
                    ulong expected = snap.Values[obj][s];
                    bool ok = valid && (got == expected || (!snap.WrittenByB[obj][s] && slot.FencedValues.Contains(got)));
                    if (!ok)
                    {
                        Failures.Add($"snapshot read {Name(obj)}@{snap.Id} slot {s}: got {got} (valid={valid}), recorded {expected} at t={_cluster.Scheduler.NowMs} ms");
                    }
                }
            }
            IssueLater();
        });
    }

    /// <summary>Snapshots, snapshot removal and rollback, every few seconds.</summary>
    private void ScheduleMaintenance()
    {
        _cluster.Scheduler.After(1_000_000 + _cluster.Random.Next(2_000_000), () =>
        {
            if (Stopped)
            {
                return;
            }
            int roll = _cluster.Random.Next(10);
            if (roll < 4 || _snapshots.Count == 0)
            {
                Quiesce(TakeSnapshot);
            }
            else if (roll < 6)
            {
                DeleteSnapshot();
                ScheduleMaintenance();
            }
            else if (_fenceEpoch == 0)
            {
                Quiesce(Rollback);
            }
            else
            {
                ScheduleMaintenance();
            }
        });
    }

    /// <summary>Stops new writes of the owner; runs <paramref name="action"/> once none is in flight.</summary>
    private void Quiesce(Action<Action> action)
    {
        _quiesced = true;
        void Check()
        {
            if (Stopped)
            {
                return;
            }
            if (_owner is null || _ownerWritesInFlight > 0)
            {
                _cluster.Scheduler.After(50_000, Check);
                return;
            }
            action(() =>
            {
                _quiesced = false;
                ScheduleMaintenance();
            });
        }
        Check();
    }

    private void TakeSnapshot(Action resume)
    {
        string name = "s" + ++_snapCounter;
        (ulong epoch, string? error) = _cluster.Monitor.Propose(new MapChange { SnapCreate = new SnapCreate { Volume = VolumeName, Snap = name } });
        Require(error);
        if (error is not null)
        {
            resume();
            return;
        }
        var snap = new Snapshot(_cluster.Monitor.Current.FindVolume(VolumeName)!.SnapSeq, name);
        for (int o = 0; o < Objects; o++)
        {
            for (int s = 0; s < SlotsPerObject; s++)
            {
                snap.Values[o][s] = _slots[o][s].Acked;
                snap.WrittenByB[o][s] = _slots[o][s].WrittenByB;
            }
        }
        _snapshots.Add(snap);
        SnapshotsTaken++;
        Note?.Invoke($"snapshot {name} (id {snap.Id}) at epoch {epoch}");
        // Writes resume once the writer's map has the snapshot, so each later write copies on write.
        WhenClientHas(_owner!, epoch, resume);
    }

    private void DeleteSnapshot()
    {
        Snapshot snap = _snapshots[_cluster.Random.Next(_snapshots.Count)];
        (_, string? error) = _cluster.Monitor.Propose(new MapChange { SnapDelete = new SnapDelete { Volume = VolumeName, Snap = snap.Name } });
        Require(error);
        snap.Deleted = true;
        _snapshots.Remove(snap);
        Note?.Invoke($"snapshot {snap.Name} removed");
    }

    private void Rollback(Action resume)
    {
        if (_fenceEpoch != 0)
        {
            resume(); // The model's snapshots may hold values of A's that are uncertain: no exact rollback.
            return;
        }
        Snapshot snap = _snapshots[_cluster.Random.Next(_snapshots.Count)];
        SimClient owner = _owner!;
        (ulong seq, ulong[] snaps) = SnapContext(owner);
        _rollingBack = true;
        int pending = Objects;
        var versions = new ulong[Objects];
        bool failed = false;
        Note?.Invoke($"rollback to {snap.Name}");
        for (int o = 0; o < Objects; o++)
        {
            int obj = o;
            owner.Client.Submit(new ObjectRequest
            {
                Pool = 1, Object = Name(obj), Kind = OsdOpKind.OsdOpRollback, SnapId = snap.Id, SnapSeq = seq, Snaps = snaps, LockEpoch = _ownerLockEpoch,
            }, result =>
            {
                if (result.Status != ObjectStatus.Ok)
                {
                    Failures.Add($"rollback of {Name(obj)} to {snap.Name} failed: {result.Status}");
                    failed = true;
                }
                versions[obj] = result.Version;
                if (--pending > 0)
                {
                    return;
                }
                _rollingBack = false;
                if (!failed)
                {
                    Rollbacks++;
                    for (int r = 0; r < Objects; r++)
                    {
                        for (int s = 0; s < SlotsPerObject; s++)
                        {
                            Slot slot = _slots[r][s];
                            slot.Acked = snap.Values[r][s];
                            slot.AckedVersion = Math.Max(slot.AckedVersion, versions[r]);
                            slot.History.Add(slot.Acked);
                        }
                    }
                }
                resume();
            });
        }
    }

    /// <summary>After healing: every slot holds its last acknowledged value (or a value of A's that may
    /// have landed before the fence, where B never wrote).</summary>
    public void VerifyFinal(SimClient client, Action done)
    {
        int pending = Objects;
        for (int o = 0; o < Objects; o++)
        {
            int obj = o;
            byte[] buffer = new byte[SlotsPerObject * SlotBytes];
            client.Client.Submit(new ObjectRequest { Pool = 1, Object = Name(obj), Kind = OsdOpKind.OsdOpRead, Destination = buffer }, result =>
            {
                if (result.Status != ObjectStatus.Ok)
                {
                    Failures.Add($"final volume read {Name(obj)}: {result.Status}");
                }
                else
                {
                    for (int s = 0; s < SlotsPerObject; s++)
                    {
                        ulong got = Decode(buffer.AsSpan(s * SlotBytes, SlotBytes), obj * SlotsPerObject + s, out bool valid);
                        Slot slot = _slots[obj][s];
                        bool ok = valid && (got == slot.Acked || (!slot.WrittenByB && slot.FencedValues.Contains(got)));
                        if (!ok)
                        {
                            Failures.Add($"final {Name(obj)} slot {s}: got {got} (valid={valid}), last acknowledged {slot.Acked}, written by B {slot.WrittenByB}");
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

    private string Name(int obj) => VolumeObjectName.Format(_volumeId, (ulong)obj);

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
            valid = slot.IndexOfAnyExcept((byte)0) < 0;
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
        public ulong AckedVersion;
        public ulong InFlight;
        public bool WrittenByB;
        public int FencedPending;
        public readonly List<ulong> History = new();
        /// <summary>Values of A's that may land without an acknowledgement (in flight at the fence, or written after it).</summary>
        public readonly HashSet<ulong> FencedValues = new();
    }

    private sealed class Snapshot(ulong id, string name)
    {
        public ulong Id { get; } = id;

        public string Name { get; } = name;

        public bool Deleted { get; set; }

        public ulong[][] Values { get; } = Enumerable.Range(0, Objects).Select(_ => new ulong[SlotsPerObject]).ToArray();

        public bool[][] WrittenByB { get; } = Enumerable.Range(0, Objects).Select(_ => new bool[SlotsPerObject]).ToArray();
    }
}
