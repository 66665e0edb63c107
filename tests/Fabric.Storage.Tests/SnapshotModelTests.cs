using Fabric.Client.Volumes;
using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Storage.Store;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Storage.Tests;

/// <summary>
/// Snapshots, rollback, copy-up, deletes and snap trim on one OSD against a plain model: after every
/// step the head and every live snapshot of every object read back exactly as the model says, and once
/// every snapshot is gone no clone block is left behind.
/// </summary>
public class SnapshotModelTests
{
    // 32 blocks: writes of 16 whole blocks or more are placed in the slot file, smaller ones stay inline.
    private const int ObjectSize = 128 << 10;
    private const int Objects = 3;

    [Fact]
    public void Random_histories_of_writes_snapshots_rollbacks_and_trims_match_the_model()
    {
        Prop.ForAll(Arb.From(Gen.Choose(1, int.MaxValue)), seed =>
        {
            RunHistory(seed, steps: 60);
            return true;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void A_snapshot_shares_blocks_until_they_are_overwritten()
    {
        var osd = new SingleOsd();
        osd.Apply(new MapChange { VolumeCreate = new VolumeCreateChange("v", ObjectSize * Objects) });
        string name = VolumeObjectName.Format(1, 0);
        Write(osd, name, 0, Fill(ObjectSize, 1));
        osd.Apply(new MapChange { SnapCreate = new SnapCreate { Volume = "v", Snap = "s1" } });
        Assert.Empty(CloneBlocks(osd)); // Taking a snapshot copies nothing.
        Write(osd, name, 4096 * 3 + 100, Fill(10, 2)); // touches one block
        Assert.Single(CloneBlocks(osd));
        Write(osd, name, 4096 * 3, Fill(4096, 3)); // the same block again: already preserved
        Assert.Single(CloneBlocks(osd));
        VolumeUsageReply usage = osd.Core.VolumeUsage(new VolumeUsageRequest { Pool = 1, VolumeId = 1 });
        Assert.Equal((ulong)ObjectSize, usage.HeadBytes);
        Assert.Equal(4096UL, usage.SnapshotBytes);
        osd.Apply(new MapChange { SnapDelete = new SnapDelete { Volume = "v", Snap = "s1" } });
        for (int i = 0; i < 5; i++)
        {
            osd.Tick();
        }
        Assert.Empty(CloneBlocks(osd));
        Assert.Equal(0UL, osd.Core.VolumeUsage(new VolumeUsageRequest { Pool = 1, VolumeId = 1 }).SnapshotBytes);
    }

    private static void RunHistory(int seed, int steps)
    {
        var random = new Random(seed);
        var osd = new SingleOsd();
        osd.Apply(new MapChange { VolumeCreate = new VolumeCreateChange("v", ObjectSize * Objects) });
        var head = new Dictionary<string, State>();
        var snaps = new SortedDictionary<ulong, Dictionary<string, State>>();
        string[] names = Enumerable.Range(0, Objects).Select(i => VolumeObjectName.Format(1, (ulong)i)).ToArray();
        foreach (string name in names)
        {
            head[name] = new State(false, new byte[ObjectSize]);
        }
        var trace = new List<string>();
        try
        {
            for (int step = 0; step < steps; step++)
            {
                string name = names[random.Next(names.Length)];
                State state = head[name];
                int roll = random.Next(100);
                if (roll < 35)
                {
                    int offset = random.Next(ObjectSize);
                    int length = 1 + random.Next(Math.Min(ObjectSize - offset, random.Next(2) == 0 ? 20000 : ObjectSize));
                    byte[] data = Fill(length, random.Next());
                    trace.Add($"write {name} {offset}+{length}");
                    Write(osd, name, offset, data);
                    data.CopyTo(state.Data, offset);
                    head[name] = state with { Exists = true };
                }
                else if (roll < 45)
                {
                    int offset = random.Next(ObjectSize);
                    int length = 1 + random.Next(ObjectSize - offset);
                    trace.Add($"zero {name} {offset}+{length}");
                    Ok(osd.Execute(new ClientOp { Object = name, Kind = OsdOpKind.OsdOpZero, Offset = (ulong)offset, Length = (uint)length }));
                    Array.Clear(state.Data, offset, length);
                    head[name] = state with { Exists = true };
                }
                else if (roll < 50)
                {
                    trace.Add($"delete {name}");
                    Ok(osd.Execute(new ClientOp { Object = name, Kind = OsdOpKind.OsdOpDelete }));
                    head[name] = new State(false, new byte[ObjectSize]);
                }
                else if (roll < 55)
                {
                    byte[] data = Fill(random.Next(ObjectSize), random.Next());
                    trace.Add($"copy-up {name} {data.Length}");
                    Ok(osd.Execute(new ClientOp { Object = name, Kind = OsdOpKind.OsdOpCopyUp }, data));
                    if (!state.Exists)
                    {
                        byte[] content = new byte[ObjectSize];
                        data.CopyTo(content, 0);
                        head[name] = new State(true, content);
                    }
                }
                else if (roll < 70)
                {
                    string snap = "s" + step;
                    trace.Add($"snap create {snap}");
                    osd.Apply(new MapChange { SnapCreate = new SnapCreate { Volume = "v", Snap = snap } });
                    ulong id = osd.Map.FindVolume("v")!.SnapSeq;
                    snaps[id] = head.ToDictionary(p => p.Key, p => p.Value with { Data = (byte[])p.Value.Data.Clone() });
                }
                else if (roll < 80 && snaps.Count > 0)
                {
                    ulong id = snaps.Keys.ElementAt(random.Next(snaps.Count));
                    string snap = osd.Map.FindVolume("v")!.Snapshots.First(s => s.Id == id).Name;
                    trace.Add($"snap rm {snap}");
                    osd.Apply(new MapChange { SnapDelete = new SnapDelete { Volume = "v", Snap = snap } });
                    snaps.Remove(id);
                    for (int i = 0; i < 4; i++)
                    {
                        osd.Tick();
                    }
                }
                else if (roll < 90 && snaps.Count > 0)
                {
                    ulong id = snaps.Keys.ElementAt(random.Next(snaps.Count));
                    trace.Add($"rollback {name} to {id}");
                    Ok(osd.Execute(new ClientOp { Object = name, Kind = OsdOpKind.OsdOpRollback, SnapId = id }));
                    State then = snaps[id][name];
                    head[name] = then with { Data = (byte[])then.Data.Clone() };
                }
                Verify(osd, head, snaps, trace);
            }
            // Every snapshot removed: trim leaves no clone data and no whiteout behind.
            foreach (SnapshotInfo snap in osd.Map.FindVolume("v")!.Snapshots.ToList())
            {
                osd.Apply(new MapChange { SnapDelete = new SnapDelete { Volume = "v", Snap = snap.Name } });
            }
            for (int i = 0; i < 10; i++)
            {
                osd.Tick();
            }
            snaps.Clear();
            Verify(osd, head, snaps, trace);
            Assert.Empty(CloneBlocks(osd));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed}: {e.Message}\n{string.Join("\n", trace)}");
        }
    }

    private static void Verify(SingleOsd osd, Dictionary<string, State> head, SortedDictionary<ulong, Dictionary<string, State>> snaps, List<string> trace)
    {
        AssertSlotsMatchRecords(osd.Store);
        foreach ((string name, State expected) in head)
        {
            Check(osd, name, 0, expected, "head");
        }
        foreach ((ulong id, Dictionary<string, State> objects) in snaps)
        {
            foreach ((string name, State expected) in objects)
            {
                Check(osd, name, id, expected, $"snap {id}");
            }
        }
    }

    private static void Check(SingleOsd osd, string name, ulong snap, State expected, string what)
    {
        (ClientOpReply reply, byte[] data) = osd.Execute(new ClientOp { Object = name, Kind = OsdOpKind.OsdOpRead, Length = ObjectSize, SnapId = snap });
        Assert.Equal(OsdStatus.Ok, reply.Status);
        if (reply.Exists != expected.Exists)
        {
            throw new Xunit.Sdk.XunitException($"{name} {what}: exists {reply.Exists}, model {expected.Exists}");
        }
        int diff = data.AsSpan().CommonPrefixLength(expected.Data);
        if (diff != ObjectSize)
        {
            throw new Xunit.Sdk.XunitException($"{name} {what}: differs from the model at byte {diff} (block {diff / 4096})");
        }
    }

    private static void Write(SingleOsd osd, string name, int offset, byte[] data) =>
        Ok(osd.Execute(new ClientOp { Object = name, Kind = OsdOpKind.OsdOpWrite, Offset = (ulong)offset }, data));

    private static void Ok((ClientOpReply Reply, byte[] Data) result) => Assert.Equal(OsdStatus.Ok, result.Reply.Status);

    internal static byte[] Fill(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Every slot in use belongs to exactly one placed record and every placed record's slot is in use:
    /// no slot leaked, none shared.</summary>
    internal static void AssertSlotsMatchRecords(MemoryObjectStore store)
    {
        var claimed = new HashSet<long>();
        int malformed = ObjectBlocks.ScanPlaced(store, [StoreKeys.PlacedKind], (_, _, _, slot) =>
        {
            Assert.True(claimed.Add(slot), $"slot {slot} claimed twice");
            Assert.True(store.Slots!.IsUsed(slot), $"slot {slot} of a record is free");
        });
        Assert.Equal(0, malformed);
        Assert.Equal(claimed.Count, store.Slots!.UsedSlots);
    }

    private static List<string> CloneBlocks(SingleOsd osd)
    {
        var keys = new List<string>();
        osd.Store.Scan([StoreKeys.CloneDataKind], (key, value) =>
        {
            keys.Add(Convert.ToHexString(key));
            return true;
        });
        return keys;
    }

    private readonly record struct State(bool Exists, byte[] Data);
}

/// <summary>Test shorthand for a volume create change.</summary>
internal sealed class VolumeCreateChange
{
    public static implicit operator Fabric.Proto.VolumeCreate(VolumeCreateChange change) => change._create;

    private readonly Fabric.Proto.VolumeCreate _create;

    public VolumeCreateChange(string name, long sizeBytes, uint objectSize = 64 << 10, VolumeInfo? template = null)
    {
        VolumeInfo volume = template?.Clone() ?? new VolumeInfo();
        volume.Name = name;
        volume.PoolId = 1;
        volume.SizeBytes = (ulong)sizeBytes;
        volume.ObjectSizeBytes = objectSize;
        _create = new Fabric.Proto.VolumeCreate { Volume = volume };
    }
}
