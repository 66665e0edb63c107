using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Cli.Output;
using Fabric.Cli.Storage;
using Fabric.Client.Admin;
using Fabric.Client.Volumes;
using Fabric.Core.Io;
using Fabric.Core.Map;
using Spectre.Console;
using Fabric.Proto;

namespace Fabric.Cli.Commands;

/// <summary>
/// The data services of a volume, like `rbd snap|clone|flatten|du|lock`:
/// <code>
/// fabric volume snap create|list|rm|rollback|protect|unprotect VOL@SNAP
/// fabric volume clone VOL@SNAP NEW        (the snapshot must be protected)
/// fabric volume flatten NEW               (copy up what the clone still reads from its parent, then detach it)
/// fabric volume du VOL                    (what the head and the snapshots hold, from the OSDs)
/// fabric volume lock ls | lock break VOL  (break = blocklist the holder, then free the lock: fencing)
/// </code>
/// Snapshots, protection and clones are map changes (the OSDs copy on write once they see the new snap
/// context); rollback and flatten move data, through the CLI's own storage client.
/// </summary>
public static class VolumeSnapCommands
{
    public static void AddTo(Command volume, GlobalOptions globals)
    {
        var snap = new Command("snap", "Snapshots of a volume: create, list, rm, rollback, protect, unprotect");
        snap.Subcommands.Add(SnapCreateVerb(globals));
        snap.Subcommands.Add(SnapListVerb(globals));
        snap.Subcommands.Add(SnapRemoveVerb(globals));
        snap.Subcommands.Add(SnapRollbackVerb(globals));
        snap.Subcommands.Add(SnapProtectVerb(globals, protect: true));
        snap.Subcommands.Add(SnapProtectVerb(globals, protect: false));
        volume.Subcommands.Add(snap);
        volume.Subcommands.Add(CloneVerb(globals));
        volume.Subcommands.Add(FlattenVerb(globals));
        volume.Subcommands.Add(DuVerb(globals));
        var locks = new Command("lock", "The volumes' exclusive locks: ls, break");
        locks.Subcommands.Add(LockListVerb(globals));
        locks.Subcommands.Add(LockBreakVerb(globals));
        volume.Subcommands.Add(locks);
    }

    /// <summary>"vol@snap" into its parts, or a usage error that shows the form.</summary>
    public static (string Volume, string Snap) ParseSnapSpec(string spec)
    {
        int at = spec.IndexOf('@');
        if (at <= 0 || at == spec.Length - 1 || spec.IndexOf('@', at + 1) >= 0)
        {
            throw new CliException($"'{spec}' is not a snapshot: write VOLUME@SNAPSHOT, e.g. disk1@before-upgrade", CliException.Usage);
        }
        return (spec[..at], spec[(at + 1)..]);
    }

    private static (VolumeInfo Volume, SnapshotInfo Snap) RequireSnapshot(ClusterMap map, string spec)
    {
        var (volumeName, snapName) = ParseSnapSpec(spec);
        var volume = VolumeCommands.RequireVolume(map, volumeName);
        var snap = volume.Snapshots.FirstOrDefault(s => s.Name == snapName)
            ?? throw new CliException($"snapshot {volumeName}@{snapName} does not exist (fabric volume snap list {volumeName}; fabric volume snap create {volumeName}@{snapName})");
        return (volume, snap);
    }

    private static Command SnapCreateVerb(GlobalOptions globals)
    {
        var spec = new Argument<string>("VOL@SNAP") { Description = "Volume and the new snapshot's name" };
        var create = new Command("create", "Take a snapshot: from now on the OSDs keep the blocks a write replaces (copy on write)") { spec };
        globals.SetAction(create, async (parse, context, cancellationToken) =>
        {
            var (volumeName, snapName) = ParseSnapSpec(parse.GetValue(spec)!);
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var volume = VolumeCommands.RequireVolume(map, volumeName);
            // A VM's node may hold acknowledged writes in its write cache: those go to the cluster first.
            if (await VolumeNbdCommands.FlushLockHolderAsync(map, volume, cancellationToken).ConfigureAwait(false) is { } note) context.Out.Note(note);
            var epoch = await context.ApplyAsync($"fabric volume snap create {volumeName}@{snapName}", cancellationToken,
                new MapChange { SnapCreate = new SnapCreate { Volume = volumeName, Snap = snapName } }).ConfigureAwait(false);
            var after = await context.Monitors.GetMapAsync(cancellationToken, epoch).ConfigureAwait(false);
            var snap = after.FindVolume(volumeName)?.Snapshots.FirstOrDefault(s => s.Name == snapName);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject { ["volume"] = volumeName, ["snap"] = snapName, ["id"] = snap?.Id ?? 0, ["size_bytes"] = snap?.SizeBytes ?? 0, ["epoch"] = epoch });
            }
            else
            {
                context.Out.Line($"snapshot {volumeName}@{snapName} created (id {snap?.Id}, map epoch {epoch})");
            }
            return 0;
        });
        return create;
    }

    private static Command SnapListVerb(GlobalOptions globals)
    {
        var name = new Argument<string>("VOL") { Description = "Volume name" };
        var list = new Command("list", "A volume's snapshots: id, size, protected, clones made from them") { name };
        list.Aliases.Add("ls");
        globals.SetAction(list, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var volume = VolumeCommands.RequireVolume(map, parse.GetValue(name)!);
            var children = map.ChildrenOf(volume.Id).ToList();
            List<string> ClonesOf(SnapshotInfo s) => children.Where(c => c.Parent.SnapId == s.Id).Select(c => c.Name).ToList();
            if (context.Json)
            {
                context.Out.WriteJson(new JsonArray(volume.Snapshots.Select(s => (JsonNode)new JsonObject
                {
                    ["name"] = s.Name, ["id"] = s.Id, ["size_bytes"] = s.SizeBytes, ["protected"] = s.Protected,
                    ["created_unix_ms"] = s.CreatedUnixMs, ["clones"] = new JsonArray(ClonesOf(s).Select(c => (JsonNode)c).ToArray()),
                }).ToArray()));
                return 0;
            }
            if (volume.Snapshots.Count == 0)
            {
                context.Out.Line($"volume {volume.Name} has no snapshots (fabric volume snap create {volume.Name}@NAME takes one)");
                return 0;
            }
            var table = Output.Output.Table("id", "name", "size", "protected", "clones", "created");
            foreach (var s in volume.Snapshots)
            {
                table.AddRow(s.Id.ToString(), Output.Output.Esc(s.Name), Units.Bytes(s.SizeBytes), s.Protected ? "yes" : "",
                    Output.Output.Esc(string.Join(", ", ClonesOf(s))), $"{DateTimeOffset.FromUnixTimeMilliseconds(s.CreatedUnixMs):u}");
            }
            context.Out.Write(table);
            return 0;
        });
        return list;
    }

    private static Command SnapRemoveVerb(GlobalOptions globals)
    {
        var spec = new Argument<string>("VOL@SNAP") { Description = "The snapshot to remove" };
        var rm = new Command("rm", "Remove a snapshot (the OSDs trim the blocks only it kept, in the background)") { spec };
        rm.Aliases.Add("delete");
        globals.SetAction(rm, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var (volume, snap) = RequireSnapshot(map, parse.GetValue(spec)!);
            if (snap.Protected)
            {
                throw new CliException($"snapshot {volume.Name}@{snap.Name} is protected: fabric volume snap unprotect {volume.Name}@{snap.Name} first (it must have no clones)");
            }
            var epoch = await context.ApplyAsync($"fabric volume snap rm {volume.Name}@{snap.Name}", cancellationToken,
                new MapChange { SnapDelete = new SnapDelete { Volume = volume.Name, Snap = snap.Name } }).ConfigureAwait(false);
            if (context.Json) context.Out.WriteJson(new JsonObject { ["removed"] = $"{volume.Name}@{snap.Name}", ["id"] = snap.Id, ["epoch"] = epoch });
            else context.Out.Line($"snapshot {volume.Name}@{snap.Name} removed (map epoch {epoch}); its blocks are trimmed in the background");
            return 0;
        });
        return rm;
    }

    private static Command SnapProtectVerb(GlobalOptions globals, bool protect)
    {
        var spec = new Argument<string>("VOL@SNAP") { Description = "The snapshot" };
        var verb = protect ? "protect" : "unprotect";
        var command = new Command(verb, protect
            ? "Protect a snapshot: it cannot be removed, and it can be cloned"
            : "Unprotect a snapshot (refused while clones depend on it: flatten or remove them first)") { spec };
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var (volume, snap) = RequireSnapshot(map, parse.GetValue(spec)!);
            var epoch = await context.ApplyAsync($"fabric volume snap {verb} {volume.Name}@{snap.Name}", cancellationToken,
                new MapChange { SnapProtect = new SnapProtect { Volume = volume.Name, Snap = snap.Name, Protected = protect } }).ConfigureAwait(false);
            if (context.Json) context.Out.WriteJson(new JsonObject { ["snap"] = $"{volume.Name}@{snap.Name}", ["protected"] = protect, ["epoch"] = epoch });
            else context.Out.Line($"snapshot {volume.Name}@{snap.Name} {(protect ? "protected" : "unprotected")} (map epoch {epoch})");
            return 0;
        });
        return command;
    }

    private static Command SnapRollbackVerb(GlobalOptions globals)
    {
        var spec = new Argument<string>("VOL@SNAP") { Description = "The snapshot to roll the volume back to" };
        var rollback = new Command("rollback", "Make the volume's data what it was at the snapshot (object by object; stop its users first)") { spec };
        globals.SetAction(rollback, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var (volume, snap) = RequireSnapshot(map, parse.GetValue(spec)!);
            // A writer that keeps writing would interleave with the rollback; its lock also makes the
            // OSDs refuse our writes. Like `rbd snap rollback`, roll back only an idle volume.
            VolumeCommands.RequireNotInUse(map, volume, "roll back");
            var clock = Stopwatch.StartNew();
            await using var session = await StorageSession.OpenAsync(context, cancellationToken).ConfigureAwait(false);
            var client = session.OpenVolume(volume.Name);
            long total = (long)Math.Max(volume.SizeBytes, snap.SizeBytes);
            var status = await CliProgress.RunAsync(context.Out, $"rollback {volume.Name} to {snap.Name}", total, bytes: true,
                progress => client.RollbackAsync(snap.Name, new VolumeTransferCommands.Adapter(progress), cancellationToken)).ConfigureAwait(false);
            if (status != BlockIoStatus.Ok)
            {
                throw new CliException($"rollback of {volume.Name} to {snap.Name} stopped: {status}; the volume is partly rolled back: run the same rollback again");
            }
            ulong epoch = map.Epoch;
            if (snap.SizeBytes != volume.SizeBytes)
            {
                // The data past the snapshot's size was rolled back to "absent" above; the size follows.
                epoch = await context.ApplyAsync($"fabric volume snap rollback {volume.Name}@{snap.Name}: size", cancellationToken,
                    new MapChange { VolumeResize = new VolumeResize { Name = volume.Name, SizeBytes = snap.SizeBytes } }).ConfigureAwait(false);
            }
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject { ["volume"] = volume.Name, ["snap"] = snap.Name, ["size_bytes"] = snap.SizeBytes, ["seconds"] = clock.Elapsed.TotalSeconds, ["epoch"] = epoch });
            }
            else
            {
                context.Out.Line($"volume {volume.Name} rolled back to {snap.Name} in {clock.Elapsed.TotalSeconds:0.0} s");
            }
            return 0;
        });
        return rollback;
    }

    private static Command CloneVerb(GlobalOptions globals)
    {
        var spec = new Argument<string>("VOL@SNAP") { Description = "The parent: a protected snapshot" };
        var name = new Argument<string>("NEW") { Description = "The clone's name" };
        var pool = new Option<string?>("--pool") { Description = "Pool of the clone (default: the parent's)" };
        var clone = new Command("clone", "Create a volume that reads through to a protected snapshot until written (copy-up on first write; no data is copied now)") { spec, name, pool };
        globals.SetAction(clone, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var (parent, snap) = RequireSnapshot(map, parse.GetValue(spec)!);
            var newName = parse.GetValue(name)!;
            if (!snap.Protected)
            {
                throw new CliException($"snapshot {parent.Name}@{snap.Name} is not protected: fabric volume snap protect {parent.Name}@{snap.Name} first (a clone's parent must not go away)");
            }
            if (map.FindVolume(newName) is not null) throw new CliException($"volume {newName} already exists: pick another name");
            var poolName = parse.GetValue(pool);
            var poolId = poolName is null ? parent.PoolId : PoolCommands.RequirePool(map, poolName).Id;
            var clock = Stopwatch.StartNew();
            var epoch = await context.ApplyAsync($"fabric volume clone {parent.Name}@{snap.Name} {newName}", cancellationToken, new MapChange
            {
                VolumeCreate = new VolumeCreate
                {
                    Volume = new VolumeInfo
                    {
                        Name = newName, PoolId = poolId, SizeBytes = snap.SizeBytes, ObjectSizeBytes = parent.ObjectSizeBytes,
                        Parent = new ParentRef { VolumeId = parent.Id, SnapId = snap.Id, OverlapBytes = snap.SizeBytes },
                    },
                },
            }).ConfigureAwait(false);
            var after = await context.Monitors.GetMapAsync(cancellationToken, epoch).ConfigureAwait(false);
            var created = after.FindVolume(newName) ?? throw new CliException($"clone {newName} was created at epoch {epoch} but is gone from the map (removed meanwhile?)");
            if (context.Json)
            {
                var json = VolumeCommands.VolumeJson(created, after, epoch);
                json["seconds"] = clock.Elapsed.TotalSeconds;
                context.Out.WriteJson(json);
            }
            else
            {
                context.Out.Line($"volume {newName} cloned from {parent.Name}@{snap.Name}: {Units.Bytes(created.SizeBytes)}, nothing copied (map epoch {epoch})");
            }
            return 0;
        });
        return clone;
    }

    private static Command FlattenVerb(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "A clone" };
        var flatten = new Command("flatten", "Copy into a clone everything it still reads from its parent, then detach it from the parent") { name };
        globals.SetAction(flatten, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var volume = VolumeCommands.RequireVolume(map, parse.GetValue(name)!);
            if (volume.Parent is null) throw new CliException($"volume {volume.Name} is not a clone: there is nothing to flatten");
            VolumeCommands.RequireNotInUse(map, volume, "flatten");
            var parentText = VolumeCommands.ParentText(volume, map);
            var clock = Stopwatch.StartNew();
            await using var session = await StorageSession.OpenAsync(context, cancellationToken).ConfigureAwait(false);
            var client = session.OpenVolume(volume.Name);
            var status = await CliProgress.RunAsync(context.Out, $"flatten {volume.Name}", (long)volume.Parent.OverlapBytes, bytes: true,
                progress => client.FlattenAsync(VolumeLocks.ProposerOf(context.Monitors), new VolumeTransferCommands.Adapter(progress), cancellationToken)).ConfigureAwait(false);
            if (status != BlockIoStatus.Ok)
            {
                throw new CliException($"flatten of {volume.Name} stopped: {status}; it still reads from {parentText}: run the same flatten again");
            }
            var after = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject { ["volume"] = volume.Name, ["detached_from"] = parentText, ["seconds"] = clock.Elapsed.TotalSeconds, ["epoch"] = after.Epoch });
            }
            else
            {
                context.Out.Line($"volume {volume.Name} flattened in {clock.Elapsed.TotalSeconds:0.0} s: it no longer depends on {parentText}");
            }
            return 0;
        });
        return flatten;
    }

    private static Command DuVerb(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Volume name" };
        var du = new Command("du", "Space a volume uses: its head, and the blocks kept for its snapshots (counted by the OSDs)") { name };
        globals.SetAction(du, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var volume = VolumeCommands.RequireVolume(map, parse.GetValue(name)!);
            var (usage, errors) = await StorageAdmin.VolumeUsageAsync(map, volume, cancellationToken).ConfigureAwait(false);
            string SnapName(ulong id) => volume.Snapshots.FirstOrDefault(s => s.Id == id)?.Name ?? $"#{id} (removed, being trimmed)";
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["volume"] = volume.Name,
                    ["provisioned_bytes"] = volume.SizeBytes,
                    ["objects"] = usage.Objects,
                    ["head_bytes"] = usage.HeadBytes,
                    ["snapshot_bytes"] = usage.SnapshotBytes,
                    ["snaps"] = new JsonArray(usage.Snaps.Select(s => (JsonNode)new JsonObject { ["snap"] = SnapName(s.SnapId), ["id"] = s.SnapId, ["bytes"] = s.Bytes }).ToArray()),
                    ["complete"] = errors.Count == 0,
                    ["errors"] = new JsonArray(errors.Select(e => (JsonNode)e).ToArray()),
                });
            }
            else
            {
                var table = Output.Output.Table("name", "provisioned", "used");
                foreach (var s in usage.Snaps) table.AddRow(Output.Output.Esc($"{volume.Name}@{SnapName(s.SnapId)}"), "", Units.Bytes(s.Bytes));
                table.AddRow(Output.Output.Esc(volume.Name), Units.Bytes(volume.SizeBytes), Units.Bytes(usage.HeadBytes));
                table.AddRow("<total>", Units.Bytes(volume.SizeBytes), Units.Bytes(usage.HeadBytes + usage.SnapshotBytes));
                context.Out.Write(table);
            }
            // Partial numbers are printed, but a script must not take them for the whole truth.
            foreach (var e in errors) context.Out.Note($"incomplete: {e}");
            return errors.Count == 0 ? 0 : 1;
        });
        return du;
    }

    private static Command LockListVerb(GlobalOptions globals)
    {
        var list = new Command("ls", "Every volume's exclusive lock: holder identity, node, since which epoch, what holds it");
        list.Aliases.Add("list");
        globals.SetAction(list, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var locked = map.Volumes.Where(v => v.Lock is { Owner.Length: > 0 }).ToList();
            if (context.Json)
            {
                context.Out.WriteJson(new JsonArray(locked.Select(v => (JsonNode)new JsonObject
                {
                    ["volume"] = v.Name, ["owner"] = v.Lock.Owner, ["node_id"] = v.Lock.NodeId, ["node"] = map.FindNode(v.Lock.NodeId)?.Name ?? "",
                    ["acquired_epoch"] = v.Lock.AcquiredEpoch, ["description"] = v.Lock.Description,
                    ["blocklisted"] = map.Blocklist.Any(b => b.Identity == v.Lock.Owner),
                }).ToArray()));
                return 0;
            }
            if (locked.Count == 0)
            {
                context.Out.Line("no volume is locked");
                return 0;
            }
            var table = Output.Output.Table("volume", "owner", "node", "since epoch", "held for");
            foreach (var v in locked)
            {
                table.AddRow(Output.Output.Esc(v.Name), Output.Output.Esc(v.Lock.Owner), Output.Output.Esc(map.FindNode(v.Lock.NodeId)?.Name ?? v.Lock.NodeId.ToString()),
                    v.Lock.AcquiredEpoch.ToString(), Output.Output.Esc(v.Lock.Description));
            }
            context.Out.Write(table);
            return 0;
        });
        return list;
    }

    private static Command LockBreakVerb(GlobalOptions globals)
    {
        var name = new Argument<string>("VOL") { Description = "Volume name" };
        var reason = new Option<string>("--reason") { Description = "Why (recorded with the blocklist entry)", DefaultValueFactory = _ => "fabric volume lock break" };
        var breakVerb = new Command("break", "Break a volume's lock: blocklist its holder (the OSDs refuse its writes from then on), then free the lock, in one map change") { name, reason };
        globals.SetAction(breakVerb, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var volume = VolumeCommands.RequireVolume(map, parse.GetValue(name)!);
            if (volume.Lock is not { Owner.Length: > 0 } held) throw new CliException($"volume {volume.Name} is not locked: nothing to break (fabric volume lock ls)");
            var vm = map.VmsUsingVolume(volume.Name).FirstOrDefault(v => v.State == VmState.Running);
            if (vm is not null)
            {
                context.Out.Note($"warning: VM {vm.Spec.Name} uses {volume.Name}; its writes are refused from now on");
            }
            var (epoch, fenced) = await VolumeLocks.BreakAsync(map, volume.Name, parse.GetValue(reason)!, VolumeLocks.ProposerOf(context.Monitors), cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject { ["volume"] = volume.Name, ["fenced"] = fenced, ["description"] = held.Description, ["epoch"] = epoch });
            }
            else
            {
                context.Out.Line($"lock of {volume.Name} broken: {fenced} ({held.Description}) is blocklisted and can no longer write (map epoch {epoch})");
            }
            return 0;
        });
        return breakVerb;
    }
}
