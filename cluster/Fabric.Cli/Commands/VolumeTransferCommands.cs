using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Cli.Output;
using Fabric.Cli.Storage;
using Fabric.Client.Volumes;
using Fabric.Core.Map;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric volume import NAME FILE [--create --pool P]` and `fabric volume export NAME FILE`: a raw
/// image into a volume and back (like `rbd import/export`), object-sized chunks several at a time,
/// with a progress bar on stderr. FILE "-" is stdin or stdout. Import writes all-zero chunks as zero
/// ranges, so a sparse image stays thin; export writes the whole volume.
/// </summary>
public static class VolumeTransferCommands
{
    private const int Parallel = 8;

    public static Command Import(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Volume name" };
        var file = new Argument<string>("FILE") { Description = "Raw image file, or - for stdin" };
        var create = new Option<bool>("--create") { Description = "Create the volume, sized to the file (rounded up to 512 bytes)" };
        var pool = new Option<string>("--pool") { Description = $"Pool of the created volume (default {VolumeCommands.DefaultPool})", DefaultValueFactory = _ => VolumeCommands.DefaultPool };
        var objectSize = new Option<string>("--object-size") { Description = "Object size of the created volume (default 4MiB)", DefaultValueFactory = _ => "4MiB" };
        var import = new Command("import", "Copy a raw image file into a volume (--create makes the volume)") { name, file, create, pool, objectSize };
        globals.SetAction(import, async (parse, context, cancellationToken) =>
        {
            var volumeName = parse.GetValue(name)!;
            var path = parse.GetValue(file)!;
            var fromStdin = path == "-";
            if (!fromStdin && !File.Exists(path)) throw new CliException($"file {path} does not exist", CliException.Usage);
            await using var source = fromStdin ? Console.OpenStandardInput() : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            ulong? createdEpoch = null;
            if (parse.GetValue(create))
            {
                if (fromStdin) throw new CliException("--create needs the file's size: import from a file, or create the volume first (fabric volume create NAME --size SIZE)", CliException.Usage);
                if (map.FindVolume(volumeName) is not null) throw new CliException($"volume {volumeName} already exists: drop --create to import into it", CliException.Usage);
                var length = Math.Max(512, (source.Length + 511) / 512 * 512);
                (_, var epoch) = await VolumeCommands.CreateVolumeAsync(context, map, volumeName, length, parse.GetValue(pool)!,
                    SizeOption.Parse(parse.GetValue(objectSize), "--object-size"), cancellationToken).ConfigureAwait(false);
                createdEpoch = epoch;
            }
            else if (map.FindVolume(volumeName) is not { } existing)
            {
                throw new CliException($"volume {volumeName} does not exist: add --create (sized to the file), or fabric volume create {volumeName} --size SIZE");
            }
            else
            {
                VolumeCommands.RequireUnlocked(map, existing, "import into");
            }
            await using var session = await StorageSession.OpenAsync(context, cancellationToken).ConfigureAwait(false);
            if (createdEpoch is { } e) await session.WaitForEpochAsync(e, cancellationToken).ConfigureAwait(false);
            await using var volume = session.OpenVolume(volumeName);
            var total = source.CanSeek ? source.Length : volume.SizeBytes;
            if (source.CanSeek && source.Length > volume.SizeBytes)
            {
                throw new CliException($"{path} ({Units.Bytes((ulong)source.Length)}) is larger than volume {volumeName} ({Units.Bytes((ulong)volume.SizeBytes)}): fabric volume resize {volumeName} --size {SizeOption.Text((source.Length + 511) / 512 * 512)}");
            }
            var clock = Stopwatch.StartNew();
            var result = await CliProgress.RunAsync(context.Out, $"import {volumeName}", total, bytes: true,
                progress => VolumeTransfer.ImportAsync(volume, source, new Adapter(progress), cancellationToken, parallel: Parallel)).ConfigureAwait(false);
            if (!result.Ok) throw new CliException($"import into {volumeName} stopped after {Units.Bytes((ulong)result.Bytes)}: {result.Error}");
            Report(context, "imported", volumeName, path, result.Bytes, clock.Elapsed, createdEpoch is not null);
            return 0;
        });
        return import;
    }

    public static Command Export(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Volume name" };
        var file = new Argument<string>("FILE") { Description = "Raw image file to write (replaced), or - for stdout" };
        var export = new Command("export", "Copy a volume into a raw image file (the whole volume; unwritten ranges as zeros)") { name, file };
        globals.SetAction(export, async (parse, context, cancellationToken) =>
        {
            var volumeName = parse.GetValue(name)!;
            var path = parse.GetValue(file)!;
            var toStdout = path == "-";
            if (toStdout && context.Json) throw new CliException("--json prints to stdout: export to a file, or drop --json", CliException.Usage);
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            VolumeCommands.RequireVolume(map, volumeName);
            await using var session = await StorageSession.OpenAsync(context, cancellationToken).ConfigureAwait(false);
            await using var volume = session.OpenVolume(volumeName, readOnly: true);
            await using var destination = toStdout ? Console.OpenStandardOutput() : new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
            var clock = Stopwatch.StartNew();
            var result = await CliProgress.RunAsync(context.Out, $"export {volumeName}", volume.SizeBytes, bytes: true,
                progress => VolumeTransfer.ExportAsync(volume, destination, new Adapter(progress), cancellationToken, parallel: Parallel)).ConfigureAwait(false);
            if (!result.Ok) throw new CliException($"export of {volumeName} stopped after {Units.Bytes((ulong)result.Bytes)}: {result.Error}");
            if (toStdout)
            {
                context.Out.Note($"exported {Units.Bytes((ulong)result.Bytes)} of {volumeName} in {clock.Elapsed.TotalSeconds:0.0} s");
                return 0;
            }
            Report(context, "exported", volumeName, path, result.Bytes, clock.Elapsed, created: false);
            return 0;
        });
        return export;
    }

    private static void Report(CliContext context, string verb, string volume, string path, long bytes, TimeSpan elapsed, bool created)
    {
        double mibps = bytes / Math.Max(elapsed.TotalSeconds, 1e-6) / (1 << 20);
        if (context.Json)
        {
            context.Out.WriteJson(new JsonObject
            {
                ["volume"] = volume,
                ["file"] = path,
                ["bytes"] = bytes,
                ["seconds"] = elapsed.TotalSeconds,
                ["mib_per_second"] = mibps,
                ["created"] = created,
            });
            return;
        }
        context.Out.Line($"{verb} {Units.Bytes((ulong)bytes)} {(verb == "imported" ? "from " + path + " into" : "of")} volume {volume}{(verb == "exported" ? " to " + path : "")}"
            + $" in {elapsed.TotalSeconds:0.0} s ({mibps:0.0} MiB/s){(created ? " (volume created)" : "")}");
    }

    internal sealed class Adapter(IProgress<long> bytes) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => bytes.Report(value.BytesDone);
    }
}
