using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Cli.Output;
using Spectre.Console;
using Fabric.Cli.Storage;
using Fabric.Client.Volumes;
using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric volume create|list|info|resize|rm` (this file), `import|export` (<see cref="VolumeTransferCommands"/>)
/// and `bench` (<see cref="VolumeBenchCommand"/>): replicated block volumes, like `rbd`. A volume is
/// striped into objects of object_size bytes named v&lt;id&gt;.&lt;index:x16&gt;; unwritten ranges read as
/// zeros. Data-moving verbs open their own storage client (identity client.cli.PID) and talk to the OSDs.
/// </summary>
public static class VolumeCommands
{
    public const string DefaultPool = "rbd";

    public static Command Create(GlobalOptions globals)
    {
        var volume = new Command("volume", "Replicated block volumes: create, list, info, resize, rm, import, export, bench, snapshots, clones, locks");
        volume.Subcommands.Add(CreateVerb(globals));
        volume.Subcommands.Add(ListVerb(globals));
        volume.Subcommands.Add(InfoVerb(globals));
        volume.Subcommands.Add(ResizeVerb(globals));
        volume.Subcommands.Add(RemoveVerb(globals));
        volume.Subcommands.Add(VolumeTransferCommands.Import(globals));
        volume.Subcommands.Add(VolumeTransferCommands.Export(globals));
        volume.Subcommands.Add(VolumeBenchCommand.Create(globals));
        VolumeSnapCommands.AddTo(volume, globals);
        return volume;
    }

    private static Command CreateVerb(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Volume name" };
        var size = new Option<string>("--size") { Description = "Size, e.g. 10GiB or 512M (a multiple of 512 bytes)", Required = true };
        var pool = new Option<string>("--pool") { Description = $"Pool (default {DefaultPool})", DefaultValueFactory = _ => DefaultPool };
        var objectSize = new Option<string>("--object-size") { Description = "Object size, a power of two from 64KiB to 64MiB (default 4MiB)", DefaultValueFactory = _ => "4MiB" };
        var create = new Command("create", "Create a thin volume (nothing is written until you write)") { name, size, pool, objectSize };
        globals.SetAction(create, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var (info, epoch) = await CreateVolumeAsync(context, map, parse.GetValue(name)!, SizeOption.Parse(parse.GetValue(size), "--size"),
                parse.GetValue(pool)!, SizeOption.Parse(parse.GetValue(objectSize), "--object-size"), cancellationToken).ConfigureAwait(false);
            var after = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            if (context.Json) context.Out.WriteJson(VolumeJson(info, after, epoch));
            else context.Out.Line($"volume {info.Name} created: {Units.Bytes(info.SizeBytes)} in pool {parse.GetValue(pool)}, objects of {Units.Bytes(info.ObjectSizeBytes)} (map epoch {epoch})");
            return 0;
        });
        return create;
    }

    /// <summary>Creates a volume after checking what the monitor would refuse, with errors that name the fix.</summary>
    public static async Task<(VolumeInfo Volume, ulong Epoch)> CreateVolumeAsync(CliContext context, ClusterMap map, string name, long sizeBytes, string poolName, long objectSize,
        CancellationToken cancellationToken)
    {
        var pool = PoolCommands.RequirePool(map, poolName);
        if (map.FindVolume(name) is not null) throw new CliException($"volume {name} already exists (fabric volume info {name}; fabric volume resize {name} --size SIZE)");
        if (sizeBytes <= 0 || sizeBytes % 512 != 0)
        {
            throw new CliException($"--size {SizeOption.Text(sizeBytes)} is not a positive multiple of 512 bytes: round it up to {SizeOption.Text((Math.Max(sizeBytes, 1) + 511) / 512 * 512)}", CliException.Usage);
        }
        if (objectSize > uint.MaxValue || (objectSize & (objectSize - 1)) != 0)
        {
            throw new CliException($"--object-size {SizeOption.Text(objectSize)} must be a power of two between 64KiB and 64MiB", CliException.Usage);
        }
        var epoch = await context.ApplyAsync($"fabric volume create {name}", cancellationToken, new MapChange
        {
            VolumeCreate = new VolumeCreate { Volume = new VolumeInfo { Name = name, PoolId = pool.Id, SizeBytes = (ulong)sizeBytes, ObjectSizeBytes = (uint)objectSize } },
        }).ConfigureAwait(false);
        var created = (await context.Monitors.GetMapAsync(cancellationToken, epoch).ConfigureAwait(false)).FindVolume(name)
            ?? throw new CliException($"volume {name} was created at epoch {epoch} but is gone from the map (removed meanwhile?)");
        return (created, epoch);
    }

    private static Command ListVerb(GlobalOptions globals)
    {
        var pool = new Option<string?>("--pool") { Description = "Only this pool's volumes" };
        var list = new Command("list", "Every volume: pool, size, object size, lock owner, parent") { pool };
        list.Aliases.Add("ls");
        globals.SetAction(list, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var poolName = parse.GetValue(pool);
            var filter = poolName is null ? null : PoolCommands.RequirePool(map, poolName);
            var volumes = map.Volumes.Where(v => filter is null || v.PoolId == filter.Id).ToList();
            if (context.Json)
            {
                context.Out.WriteJson(new JsonArray(volumes.Select(v => (JsonNode)VolumeJson(v, map, null)).ToArray()));
                return 0;
            }
            if (volumes.Count == 0)
            {
                context.Out.Line("no volumes (fabric volume create NAME --size SIZE makes one)");
                return 0;
            }
            var table = Output.Output.Table("name", "id", "pool", "size", "object size", "objects", "lock", "parent");
            foreach (var v in volumes)
            {
                table.AddRow(Output.Output.Esc(v.Name), v.Id.ToString(), Output.Output.Esc(map.FindPool(v.PoolId)?.Name ?? "?"), Units.Bytes(v.SizeBytes),
                    Units.Bytes(v.ObjectSizeBytes), ObjectCount(v).ToString(), Output.Output.Esc(v.Lock?.Owner ?? ""), Output.Output.Esc(ParentText(v, map)));
            }
            context.Out.Write(table);
            return 0;
        });
        return list;
    }

    private static Command InfoVerb(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Volume name" };
        var du = new Option<bool>("--du") { Description = "Also count the objects that exist and the bytes they hold (one stat per object)" };
        var info = new Command("info", "One volume: size, objects, pool and placement rules, lock, users; --du counts what is written") { name, du };
        globals.SetAction(info, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var v = RequireVolume(map, parse.GetValue(name)!);
            var json = VolumeJson(v, map, null);
            long? existing = null;
            ulong allocated = 0;
            if (parse.GetValue(du))
            {
                await using var session = await StorageSession.OpenAsync(context, cancellationToken).ConfigureAwait(false);
                var (count, bytes, error) = await ObjectUsage.MeasureAsync(session.Objects, v, cancellationToken).ConfigureAwait(false);
                if (error is not null) throw new CliException($"measuring volume {v.Name}: {error}");
                existing = count;
                allocated = bytes;
                json["objects_existing"] = count;
                json["used_bytes"] = bytes;
            }
            if (context.Json)
            {
                context.Out.WriteJson(json);
                return 0;
            }
            var pool = map.FindPool(v.PoolId);
            var o = context.Out;
            o.Line($"volume {v.Name} (id {v.Id})");
            o.Line($"  size:        {Units.Bytes(v.SizeBytes)} ({v.SizeBytes} bytes)");
            o.Line($"  objects:     {ObjectCount(v)} of {Units.Bytes(v.ObjectSizeBytes)}, named v{v.Id}.<index:x16>");
            if (existing is not null) o.Line($"  written:     {existing} object(s) exist, {Units.Bytes(allocated)} allocated");
            o.Line($"  pool:        {pool?.Name ?? "?"} ({pool?.Replicas} replicas, min {pool?.MinReplicas}, {pool?.PgCount} PGs, failure domain {pool?.FailureDomain})");
            o.Line($"  lock:        {(v.Lock is { Owner.Length: > 0 } l ? $"{l.Owner} (node {l.NodeId}, since epoch {l.AcquiredEpoch}) {l.Description}" : "none")}");
            var users = map.VmsUsingVolume(v.Name).Select(vm => vm.Spec.Name).ToList();
            o.Line($"  used by:     {(users.Count == 0 ? "no VM" : string.Join(", ", users))}");
            if (v.Parent is not null) o.Line($"  parent:      {ParentText(v, map)}");
            if (v.Snapshots.Count > 0) o.Line($"  snapshots:   {string.Join(", ", v.Snapshots.Select(s => s.Name))}");
            o.Line($"  created:     {DateTimeOffset.FromUnixTimeMilliseconds(v.CreatedUnixMs):u}");
            return 0;
        });
        return info;
    }

    private static Command ResizeVerb(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Volume name" };
        var size = new Option<string>("--size") { Description = "New size (a multiple of 512 bytes)", Required = true };
        var allowShrink = new Option<bool>("--allow-shrink") { Description = "Allow a smaller size: the data past the new end is deleted" };
        var resize = new Command("resize", "Grow a volume, or shrink it (--allow-shrink: the objects past the new end are deleted)") { name, size, allowShrink };
        globals.SetAction(resize, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var v = RequireVolume(map, parse.GetValue(name)!);
            var newSize = SizeOption.Parse(parse.GetValue(size), "--size");
            if (newSize <= 0 || newSize % 512 != 0) throw new CliException($"--size {SizeOption.Text(newSize)} is not a positive multiple of 512 bytes", CliException.Usage);
            var oldSize = (long)v.SizeBytes;
            SweepResult sweep = default;
            if (newSize < oldSize)
            {
                if (!parse.GetValue(allowShrink))
                {
                    throw new CliException($"shrinking volume {v.Name} from {Units.Bytes((ulong)oldSize)} to {Units.Bytes((ulong)newSize)} deletes the data past {Units.Bytes((ulong)newSize)}: add --allow-shrink", CliException.Usage);
                }
                RequireNotInUse(map, v, "shrink");
                // Trim first, then change the size (librbd's order): if the trim is interrupted the volume
                // keeps its old size and rerunning the same command finishes the job. Data past the new end
                // never survives into a later grow.
                await using var session = await StorageSession.OpenAsync(context, cancellationToken).ConfigureAwait(false);
                ulong objectSize = v.ObjectSizeBytes;
                ulong firstDropped = ((ulong)newSize + objectSize - 1) / objectSize;
                ulong end = ObjectCount(v);
                sweep = await CliProgress.RunAsync(context.Out, $"trimming {v.Name}", (long)(end - Math.Min(end, firstDropped)), bytes: false,
                    progress => ObjectSweep.RemoveAsync(session.Objects, v, firstDropped, end, progress, cancellationToken)).ConfigureAwait(false);
                if (sweep.Error is not null)
                {
                    throw new CliException($"shrinking volume {v.Name}: {sweep.Error}; it keeps its size {Units.Bytes((ulong)oldSize)}: run the same resize again");
                }
                if ((ulong)newSize % objectSize != 0)
                {
                    var error = await ObjectSweep.ZeroTailAsync(session.Objects, v, (ulong)newSize / objectSize, (ulong)newSize % objectSize, cancellationToken).ConfigureAwait(false);
                    if (error is not null) throw new CliException($"shrinking volume {v.Name}: {error}; it keeps its size {Units.Bytes((ulong)oldSize)}: run the same resize again");
                }
            }
            var epoch = await context.ApplyAsync($"fabric volume resize {v.Name}", cancellationToken,
                new MapChange { VolumeResize = new VolumeResize { Name = v.Name, SizeBytes = (ulong)newSize } }).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["volume"] = v.Name,
                    ["old_size_bytes"] = oldSize,
                    ["size_bytes"] = newSize,
                    ["shrunk"] = newSize < oldSize,
                    ["objects_removed"] = sweep.Removed,
                    ["epoch"] = epoch,
                });
            }
            else if (newSize < oldSize)
            {
                context.Out.Line($"volume {v.Name} shrunk from {Units.Bytes((ulong)oldSize)} to {Units.Bytes((ulong)newSize)}: deleted {sweep.Removed} object(s) past the end (map epoch {epoch})");
            }
            else
            {
                context.Out.Line($"volume {v.Name} resized from {Units.Bytes((ulong)oldSize)} to {Units.Bytes((ulong)newSize)} (map epoch {epoch})");
            }
            return 0;
        });
        return resize;
    }

    private static Command RemoveVerb(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Volume name" };
        var rm = new Command("rm", "Delete a volume: all its objects (in parallel), then its map entry") { name };
        rm.Aliases.Add("delete");
        globals.SetAction(rm, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var v = RequireVolume(map, parse.GetValue(name)!);
            RequireNotInUse(map, v, "remove");
            var child = map.ChildrenOf(v.Id).FirstOrDefault();
            if (child is not null) throw new CliException($"volume {v.Name} has clone {child.Name}: flatten or remove the clone first");
            var clock = Stopwatch.StartNew();
            SweepResult sweep;
            await using (var session = await StorageSession.OpenAsync(context, cancellationToken).ConfigureAwait(false))
            {
                sweep = await CliProgress.RunAsync(context.Out, $"removing {v.Name}", (long)ObjectCount(v), bytes: false,
                    progress => ObjectSweep.RemoveAsync(session.Objects, v, 0, ObjectCount(v), progress, cancellationToken)).ConfigureAwait(false);
            }
            if (sweep.Error is not null)
            {
                throw new CliException($"removing volume {v.Name}: {sweep.Error}; {sweep.Removed} object(s) were deleted, the volume is still in the map: run fabric volume rm {v.Name} again");
            }
            var epoch = await context.ApplyAsync($"fabric volume rm {v.Name}", cancellationToken, new MapChange { VolumeDelete = new VolumeDelete { Name = v.Name } }).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject { ["removed"] = v.Name, ["objects_deleted"] = sweep.Removed, ["objects_examined"] = sweep.Examined, ["seconds"] = clock.Elapsed.TotalSeconds, ["epoch"] = epoch });
            }
            else
            {
                context.Out.Line($"volume {v.Name} removed: {sweep.Removed} object(s) deleted in {clock.Elapsed.TotalSeconds:0.0} s (map epoch {epoch})");
            }
            return 0;
        });
        return rm;
    }

    /// <summary>The volume, or an error that names the fix.</summary>
    public static VolumeInfo RequireVolume(ClusterMap map, string name) =>
        map.FindVolume(name) ?? throw new CliException($"volume {name} does not exist: fabric volume create {name} --size SIZE (fabric volume list shows the volumes)");

    internal static void RequireNotInUse(ClusterMap map, VolumeInfo v, string verb)
    {
        var vm = map.VmsUsingVolume(v.Name).FirstOrDefault();
        if (vm is not null) throw new CliException($"cannot {verb} volume {v.Name}: it is a disk of VM {vm.Spec.Name}; remove the VM first");
        RequireUnlocked(map, v, verb);
    }

    /// <summary>
    /// Refuses to change a volume whose exclusive lock another client holds (a running VM, an NBD export): the OSDs
    /// would refuse every write of ours (fencing), and the user would see only errors.
    /// </summary>
    internal static void RequireUnlocked(ClusterMap map, VolumeInfo v, string verb)
    {
        if (v.Lock is { Owner.Length: > 0 } held)
        {
            string node = map.FindNode(held.NodeId) is { } n ? $" on {n.Name}" : "";
            string what = (held.Description.Length > 0 ? $" ({held.Description})" : "") + node;
            throw new CliException($"cannot {verb} volume {v.Name}: its exclusive lock is held by {held.Owner}{what}, and the OSDs refuse writes " +
                $"from anyone else; stop its user first (fabric vm stop, fabric volume unexport-nbd {v.Name}), or fabric volume lock break {v.Name} if that user is gone");
        }
    }

    /// <summary>Objects a volume of this size spans (the last one may be partly used).</summary>
    public static ulong ObjectCount(VolumeInfo v)
    {
        ulong objectSize = v.ObjectSizeBytes == 0 ? VolumeClient.DefaultObjectSize : v.ObjectSizeBytes;
        return (v.SizeBytes + objectSize - 1) / objectSize;
    }

    internal static string ParentText(VolumeInfo v, ClusterMap map)
    {
        if (v.Parent is null) return "";
        var parent = map.FindVolume(v.Parent.VolumeId);
        var snap = parent?.Snapshots.FirstOrDefault(s => s.Id == v.Parent.SnapId);
        return $"{parent?.Name ?? "?"}@{snap?.Name ?? v.Parent.SnapId.ToString()}";
    }

    public static JsonObject VolumeJson(VolumeInfo v, ClusterMap map, ulong? epoch)
    {
        var json = new JsonObject
        {
            ["name"] = v.Name,
            ["id"] = v.Id,
            ["pool"] = map.FindPool(v.PoolId)?.Name,
            ["pool_id"] = v.PoolId,
            ["size_bytes"] = v.SizeBytes,
            ["object_size_bytes"] = v.ObjectSizeBytes,
            ["objects"] = ObjectCount(v),
            ["lock_owner"] = v.Lock?.Owner ?? "",
            ["parent"] = ParentText(v, map),
            ["snapshots"] = new JsonArray(v.Snapshots.Select(s => (JsonNode)s.Name).ToArray()),
            ["used_by"] = new JsonArray(map.VmsUsingVolume(v.Name).Select(vm => (JsonNode)vm.Spec.Name).ToArray()),
            ["created_unix_ms"] = v.CreatedUnixMs,
        };
        if (epoch is not null) json["epoch"] = epoch;
        return json;
    }
}
