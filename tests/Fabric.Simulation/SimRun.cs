using System.Text;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Osd;
using Fabric.Storage.Store;

namespace Fabric.Simulation;

/// <summary>Which faults a run injects.</summary>
public enum SimFaults
{
    /// <summary>Crashes (losing unsynced writes), restarts, partitions, message loss, duplication.</summary>
    Mixed,
    /// <summary>Bit flips in stored blocks on one replica at a time, plus message loss.</summary>
    BitFlips,
    /// <summary>
    /// Heartbeat gaps: a running node cut off from the monitor (only) for longer than the grace is marked down, and
    /// rejoins with a new incarnation that its running OSD must adopt; plus message loss.
    /// </summary>
    Rejoins,
}

/// <summary>
/// One seeded simulation run: a 5-node cluster (3 replicas, min 2) under a client workload and random
/// faults for a while, then healed; the checkers then require that every acknowledged write reads
/// back, PGs are active+clean and replicas converged.
/// </summary>
public sealed class SimRun
{
    private readonly SimCluster _cluster;
    private readonly SimWorkload _workload;
    private readonly SimVolumeWorkload _volume;
    private readonly SimFaults _faults;
    private readonly StringBuilder _log = new();
    private readonly HashSet<int> _crashed = new();
    private long _faultsUntilUs;

    private SimRun(int seed, SimFaults faults)
    {
        _faults = faults;
        // Scrubs run often (deep ones too), with repair on in the bit-flip runs.
        var options = new OsdOptions
        {
            MaxLogEntries = 40, MaxRecoveryOps = 2, RetransmitMs = 500, WriteRetransmitMs = 2000, RecoveryBytesPerSecond = 0,
            ScrubIntervalMs = 4000, DeepScrubIntervalMs = 7000, ScrubChunkObjects = 4, AutoRepair = faults == SimFaults.BitFlips,
        };
        _cluster = new SimCluster(seed, nodes: 5, pgCount: 16, options) { Note = Note };
        SimClient c1 = _cluster.AddClient();
        SimClient c2 = _cluster.AddClient();
        SimClient a = _cluster.AddClient();
        SimClient b = _cluster.AddClient();
        _workload = new SimWorkload(_cluster, [c1, c2]);
        _volume = new SimVolumeWorkload(_cluster, a, b, _workload.Failures) { Note = Note };
    }

    public string Log => _log.ToString();

    public long EventsExecuted => _cluster.Scheduler.Executed;

    /// <summary>A digest of the final durable state of every disk (replay check).</summary>
    public string StateDigest { get; private set; } = "";

    public static (bool Ok, string Report, SimRun Run) Execute(int seed, SimFaults faults, long faultSeconds = 30)
    {
        var run = new SimRun(seed, faults);
        try
        {
            string? failure = run.Run(faultSeconds);
            return (failure is null, failure ?? $"ok: {run._workload.WritesAcked} writes, {run._workload.ReadsChecked} reads, volume: {run._volume.WritesAcked} writes, "
                + $"{run._volume.SnapshotsTaken} snapshots ({run._volume.SnapshotReadsChecked} reads), {run._volume.Rollbacks} rollbacks, {run._volume.FencedRefusals} fenced refusals; "
                + $"{run._cluster.Nodes.Values.Sum(n => n.Rejoins)} rejoins of running nodes; "
                + $"{run._cluster.Nodes.Values.Sum(n => n.Disk.Slots?.UsedSlots ?? 0)} placed blocks at the end; {run.EventsExecuted} events", run);
        }
        catch (Exception e)
        {
            return (false, $"exception: {e}\n{run.Log}", run);
        }
    }

    private string? Run(long faultSeconds)
    {
        _cluster.Start();
        _cluster.Scheduler.RunUntil(2_000_000);
        _workload.Start();
        _volume.Start();
        _faultsUntilUs = _cluster.Scheduler.NowUs + faultSeconds * 1_000_000;
        ScheduleFault();
        if (_faults == SimFaults.Mixed)
        {
            ScheduleFence(_cluster.Scheduler.NowUs + _cluster.Random.NextInt64(faultSeconds * 1_000_000 / 2));
        }
        _cluster.Scheduler.RunUntil(_faultsUntilUs, () => _workload.Failures.Count > 0);
        if (_workload.Failures.Count > 0)
        {
            return Failure("during faults");
        }

        // Heal: no more faults, every node back, the network whole.
        _workload.Stopped = true;
        _volume.Stopped = true;
        _cluster.Network.HealAll();
        _cluster.Network.LossRate = 0;
        _cluster.Network.DuplicateRate = 0;
        foreach (int id in _crashed.ToArray())
        {
            Restart(id);
        }
        long deadline = _cluster.Scheduler.NowUs + 300_000_000;
        bool settled = _cluster.Scheduler.RunUntil(deadline, () => _workload.Failures.Count > 0 || (AllOpsDone() && AllClean()));
        if (!settled || _workload.Failures.Count > 0)
        {
            return Failure(settled ? "after healing" : "cluster did not settle within 300 s of healing:\n" + Describe());
        }
        // A deep scrub (with repair) of every PG: every copy is compared once more.
        var before = DeepScrubCounts();
        foreach (SimNode node in _cluster.Nodes.Values)
        {
            foreach (PgStatus pg in node.Core!.ListPgs(new ListPgsRequest { PrimaryOnly = true }).Pgs)
            {
                node.Core.RequestScrub(new ScrubPgRequest { Pg = pg.Pg }, deep: true, repair: _faults == SimFaults.BitFlips);
            }
        }
        bool scrubbed = _cluster.Scheduler.RunUntil(_cluster.Scheduler.NowUs + 120_000_000, () =>
            AllOpsDone() && AllClean() && DeepScrubCounts().All(p => p.Value > before.GetValueOrDefault(p.Key)));
        if (!scrubbed)
        {
            return Failure("the final deep scrub did not complete:\n" + Describe());
        }
        string? inconsistent = Inconsistent();
        if (inconsistent is not null)
        {
            return Failure("scrub found inconsistent objects" + (_faults == SimFaults.BitFlips ? " after repair" : " without any disk fault") + ":\n" + inconsistent);
        }
        bool verified = false;
        int verifications = 2;
        _workload.VerifyFinal(() => verified = --verifications == 0);
        _volume.VerifyFinal(_cluster.Clients[^1], () => verified = --verifications == 0);
        _cluster.Scheduler.RunUntil(_cluster.Scheduler.NowUs + 60_000_000, () => verified);
        if (!verified || _workload.Failures.Count > 0)
        {
            return Failure(verified ? "final read-back" : "final reads did not complete");
        }
        string? divergence = CheckConvergence();
        if (divergence is not null)
        {
            return "replicas diverged: " + divergence + "\n--- fault log ---\n" + Log;
        }
        string? slots = CheckSlots();
        if (slots is not null)
        {
            return "slot map: " + slots + "\n--- fault log ---\n" + Log;
        }
        StateDigest = Digest();
        return null;
    }

    private void ScheduleFence(long atUs)
    {
        _cluster.Scheduler.At(atUs, () =>
        {
            if (_volume.Fenced || _cluster.Scheduler.NowUs >= _faultsUntilUs)
            {
                return;
            }
            _volume.Fence();
            if (!_volume.Fenced)
            {
                ScheduleFence(_cluster.Scheduler.NowUs + 500_000); // A did not hold the lock yet.
            }
        });
    }

    private Dictionary<string, ulong> DeepScrubCounts()
    {
        var counts = new Dictionary<string, ulong>();
        foreach (SimNode node in _cluster.Nodes.Values)
        {
            foreach (PgStatus pg in node.Core!.ListPgs(new ListPgsRequest { PrimaryOnly = true }).Pgs)
            {
                counts[pg.Pg] = pg.DeepScrubs;
            }
        }
        return counts;
    }

    private string? Inconsistent()
    {
        var lines = new List<string>();
        foreach (SimNode node in _cluster.Nodes.Values)
        {
            foreach (InconsistentObject found in node.Core!.ListInconsistent(new ListInconsistentRequest()).Objects)
            {
                lines.Add($"pg {found.Pg} {found.Object}: {string.Join("; ", found.Errors)}");
            }
        }
        return lines.Count == 0 ? null : string.Join("\n", lines);
    }

    private string Failure(string when) =>
        $"{when}: {string.Join("\n", _workload.Failures.Take(10))}\n--- fault log ---\n{Log}";

    private void ScheduleFault()
    {
        Random random = _cluster.Random;
        _cluster.Scheduler.After(500_000 + random.Next(3_000_000), () =>
        {
            if (_cluster.Scheduler.NowUs >= _faultsUntilUs)
            {
                return;
            }
            InjectFault(random);
            ScheduleFault();
        });
    }

    private void InjectFault(Random random)
    {
        var alive = _cluster.Nodes.Keys.Where(id => !_crashed.Contains(id)).ToList();
        int roll = random.Next(100);
        if (_faults == SimFaults.BitFlips)
        {
            if (roll < 30)
            {
                // One bad copy at a time, on any member of a PG, in a head or a clone block: reads and
                // partial writes on the primary catch it, scrubs (with auto repair) catch the others.
                PoolInfo pool = _cluster.Monitor.Current.Pools[0];
                var pg = new PgId(pool.Id, (uint)random.Next((int)pool.PgCount));
                int[] acting = PlacementMap.Build(_cluster.Monitor.Current).Get(pg)!.Acting;
                int victim = acting.Length == 0 ? 0 : acting[random.Next(acting.Length)];
                Span<byte> prefix = stackalloc byte[16];
                int kind = random.Next(4);
                int n = StoreKeys.PgPrefix(prefix, kind == 0 ? StoreKeys.CloneDataKind : kind == 1 ? StoreKeys.PlacedKind : StoreKeys.DataKind, pg.Packed);
                bool flipped = victim > 0 && (kind == 1
                    ? _cluster.Nodes[victim].Disk.FlipRandomPlacedBit(random, prefix[..n])
                    : _cluster.Nodes[victim].Disk.FlipRandomBit(random, prefix[..n]));
                if (flipped)
                {
                    Note($"flip a bit in {(kind == 1 ? "a placed block" : "a block")} of pg {pg} on n{victim}");
                }
            }
            else if (roll < 40)
            {
                _cluster.Network.LossRate = random.Next(3) / 100.0;
                Note($"loss {_cluster.Network.LossRate:P0}");
            }
            return;
        }
        if (_faults == SimFaults.Rejoins)
        {
            if (roll < 50 && alive.Count > 0)
            {
                // Longer than the grace (3 s, checked every 0.5 s): the monitor marks the node down while it runs.
                int id = alive[random.Next(alive.Count)];
                long healUs = 3_600_000 + random.Next(3_000_000);
                _cluster.Network.Cut(id, SimNetwork.MonitorEndpoint);
                Note($"cut n{id} from the monitor for {healUs / 1000} ms");
                _cluster.Scheduler.After(healUs, () =>
                {
                    _cluster.Network.Heal(id);
                    Note($"heal n{id}");
                });
            }
            else if (roll < 65)
            {
                _cluster.Network.LossRate = random.Next(3) / 100.0;
                Note($"loss {_cluster.Network.LossRate:P0}");
            }
            return;
        }
        if (roll < 35 && _crashed.Count < 2 && alive.Count > 0)
        {
            int id = alive[random.Next(alive.Count)];
            _cluster.Nodes[id].Crash();
            _crashed.Add(id);
            long downUs = random.Next(4) == 0 ? 22_000_000 + random.Next(10_000_000) : 1_000_000 + random.Next(8_000_000);
            Note($"crash n{id} for {downUs / 1000} ms");
            _cluster.Scheduler.After(downUs, () =>
            {
                if (_crashed.Contains(id))
                {
                    Restart(id);
                }
            });
        }
        else if (roll < 60 && alive.Count > 0)
        {
            int id = alive[random.Next(alive.Count)];
            bool fromMonitor = random.Next(2) == 0;
            foreach (int other in _cluster.Nodes.Keys)
            {
                if (other != id)
                {
                    _cluster.Network.Cut(id, other);
                }
            }
            foreach (SimClient client in _cluster.Clients)
            {
                if (random.Next(2) == 0)
                {
                    _cluster.Network.Cut(id, client.Endpoint);
                }
            }
            if (fromMonitor)
            {
                _cluster.Network.Cut(id, SimNetwork.MonitorEndpoint);
            }
            long healUs = 1_000_000 + random.Next(6_000_000);
            Note($"partition n{id} (monitor too: {fromMonitor}) for {healUs / 1000} ms");
            _cluster.Scheduler.After(healUs, () =>
            {
                _cluster.Network.Heal(id);
                Note($"heal n{id}");
            });
        }
        else if (roll < 75 && alive.Count > 1)
        {
            int a = alive[random.Next(alive.Count)];
            int b = alive[random.Next(alive.Count)];
            if (a != b)
            {
                _cluster.Network.Cut(a, b);
                long healUs = 500_000 + random.Next(4_000_000);
                Note($"cut n{a}-n{b} for {healUs / 1000} ms");
                _cluster.Scheduler.After(healUs, () =>
                {
                    _cluster.Network.Heal(a);
                    _cluster.Network.Heal(b);
                });
            }
        }
        else if (roll < 90)
        {
            _cluster.Network.LossRate = random.Next(4) / 100.0;
            _cluster.Network.DuplicateRate = random.Next(2) / 100.0;
            Note($"loss {_cluster.Network.LossRate:P0} dup {_cluster.Network.DuplicateRate:P0}");
        }
    }

    private void Restart(int id)
    {
        _crashed.Remove(id);
        _cluster.Nodes[id].Start();
        Note($"restart n{id}");
    }

    private void Note(string text) => _log.Append($"[{_cluster.Scheduler.NowMs,8} ms] {text}\n");

    private bool AllOpsDone() => _cluster.Clients.All(c => c.Client.Outstanding == 0);

    private bool AllClean()
    {
        ClusterMap map = _cluster.Monitor.Current;
        if (map.Nodes.Any(n => n.State != NodeState.Up || !n.In))
        {
            return false;
        }
        int clean = 0;
        foreach (SimNode node in _cluster.Nodes.Values)
        {
            if (node.Core is null || node.Core.Epoch != map.Epoch)
            {
                return false;
            }
            foreach (PgStatus pg in node.Core.ListPgs(new ListPgsRequest { PrimaryOnly = true }).Pgs)
            {
                // Scheduled scrubs keep running: a scrubbing PG is clean too.
                if (pg.State != "active+clean" && !pg.State.StartsWith("active+clean+scrubbing", StringComparison.Ordinal))
                {
                    return false;
                }
                clean++;
            }
        }
        return clean == map.Pools[0].PgCount;
    }

    private string Describe()
    {
        var sb = new StringBuilder();
        sb.Append($"map epoch {_cluster.Monitor.Current.Epoch}: ");
        foreach (NodeInfo n in _cluster.Monitor.Current.Nodes)
        {
            sb.Append($"n{n.Id}={n.State}/{(n.In ? "in" : "out")} ");
        }
        sb.Append('\n');
        foreach (SimNode node in _cluster.Nodes.Values)
        {
            if (node.Core is null)
            {
                continue;
            }
            foreach (PgStatus pg in node.Core.ListPgs(new ListPgsRequest { PrimaryOnly = true }).Pgs)
            {
                sb.Append($"n{node.Id} pg {pg.Pg} {pg.State} acting=[{string.Join(",", pg.Acting)}] degraded={pg.DegradedObjects} epoch={node.Core.Epoch}\n");
                if (!pg.State.StartsWith("active+clean", StringComparison.Ordinal))
                {
                    sb.Append("    " + node.Core.DescribeRecovery(pg.Pg) + "\n");
                }
                if (pg.State.Contains("scrubbing", StringComparison.Ordinal))
                {
                    sb.Append("    " + node.Core.DescribeScrub(pg.Pg) + "\n");
                    if (PgId.TryParse(pg.Pg, out PgId id))
                    {
                        foreach (int member in pg.Acting)
                        {
                            sb.Append("      " + (_cluster.Nodes[member].Core?.DescribeMember(id.Packed) ?? $"osd.{member}: down") + "\n");
                        }
                    }
                }
            }
        }
        sb.Append($"outstanding client ops: {string.Join(",", _cluster.Clients.Select(c => c.Client.Outstanding))}\n");
        sb.Append(Log);
        return sb.ToString();
    }

    /// <summary>Every acting member of every PG holds the same objects, versions and bytes.</summary>
    /// <summary>
    /// On every node, once its writes are durable: each slot in use belongs to exactly one placed record and each
    /// record's slot is in use (no slot leaked by a crash, an abandoned write or a recovery, none shared).
    /// </summary>
    private string? CheckSlots()
    {
        foreach ((int id, SimNode node) in _cluster.Nodes)
        {
            node.Disk.Sync();
            var claimed = new HashSet<long>();
            string? problem = null;
            int malformed = ObjectBlocks.ScanPlaced(node.Disk, [StoreKeys.PlacedKind], (_, _, _, slot) =>
            {
                if (!claimed.Add(slot) || !node.Disk.Slots!.IsUsed(slot))
                {
                    problem ??= $"n{id}: slot {slot} claimed twice or free";
                }
            });
            if (malformed > 0)
            {
                problem ??= $"n{id}: {malformed} malformed placed records";
            }
            if (problem is not null)
            {
                return problem;
            }
            if (claimed.Count != node.Disk.Slots!.UsedSlots)
            {
                return $"n{id}: {node.Disk.Slots.UsedSlots} slots in use for {claimed.Count} placed records";
            }
        }
        return null;
    }

    private string? CheckConvergence()
    {
        ClusterMap map = _cluster.Monitor.Current;
        var placement = PlacementMap.Build(map);
        PoolInfo pool = map.Pools[0];
        for (uint seed = 0; seed < pool.PgCount; seed++)
        {
            PgMapping mapping = placement.Get(new PgId(pool.Id, seed))!;
            string? reference = null;
            foreach (int osd in mapping.Acting)
            {
                string content = PgContent(_cluster.Nodes[osd].Disk, new PgId(pool.Id, seed).Packed);
                if (reference is null)
                {
                    reference = content;
                }
                else if (content != reference)
                {
                    return $"pg {pool.Id}.{seed:x}: osd {osd} differs from osd {mapping.Acting[0]}\n{content}\nvs\n{reference}";
                }
            }
        }
        return null;
    }

    private static string PgContent(MemoryObjectStore store, ulong pg)
    {
        var sb = new StringBuilder();
        Span<byte> prefix = stackalloc byte[16];
        int n = StoreKeys.PgPrefix(prefix, StoreKeys.ObjectKind, pg);
        var names = new List<(string, ObjectMeta)>();
        store.Scan(prefix[..n], (key, value) =>
        {
            names.Add((StoreKeys.NameOf(key), new ObjectMeta(BitConverter.ToUInt64(value), BitConverter.ToUInt64(value[8..]))));
            return true;
        });
        foreach ((string name, ObjectMeta meta) in names)
        {
            ObjectHead head = ObjectFamily.ReadHead(store, pg, name)!;
            byte[] data = new byte[Math.Max(meta.Size, 64 << 10)];
            BlockReadStatus status = ObjectFamily.ReadAt(store, pg, name, head, 0, 0, data, out bool exists, out _);
            sb.Append($"{name} v{meta.Version:x} size {meta.Size} {(exists ? "" : "absent ")}{status} crc {Fabric.Core.Checksums.Crc32C.Compute(data):x8} meta {Convert.ToHexString(head.ToBytes())}\n");
            foreach (CloneInfo clone in head.Clones)
            {
                status = ObjectFamily.ReadAt(store, pg, name, head, clone.Id, 0, data, out exists, out _);
                sb.Append($"  clone {clone.Id} {status} crc {Fabric.Core.Checksums.Crc32C.Compute(data):x8}\n");
            }
        }
        return sb.ToString();
    }

    private string Digest()
    {
        var sb = new StringBuilder();
        foreach (SimNode node in _cluster.Nodes.Values)
        {
            foreach (PgStatus pg in node.Core!.ListPgs(new ListPgsRequest()).Pgs)
            {
                sb.Append($"{node.Id}:{pg.Pg}:{pg.LogHead}:{pg.Objects};");
            }
        }
        return $"{sb.ToString().GetHashCode():x}/{EventsExecuted}/{_workload.WritesAcked}";
    }
}
