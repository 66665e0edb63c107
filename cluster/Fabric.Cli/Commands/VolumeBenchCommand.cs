using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Fabric.Cli.Storage;
using Fabric.Client.Volumes;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric volume bench NAME [--pattern rand|seq --rw read|write --bs 4K --qd 16 --seconds 10]`: fio-like
/// load on a volume through this CLI's own storage client (<see cref="VolumeBenchmark"/>): IOPS, MiB/s
/// and completion latency p50/p99/p99.9. Writes overwrite the volume's data.
/// </summary>
public static class VolumeBenchCommand
{
    public static Command Create(GlobalOptions globals)
    {
        var name = new Argument<string>("NAME") { Description = "Volume name (write benchmarks overwrite its data)" };
        var pattern = new Option<string>("--pattern") { Description = "rand or seq", DefaultValueFactory = _ => "rand" };
        pattern.AcceptOnlyFromAmong("rand", "seq");
        var rw = new Option<string>("--rw") { Description = "read or write", DefaultValueFactory = _ => "write" };
        rw.AcceptOnlyFromAmong("read", "write");
        var bs = new Option<string>("--bs") { Description = "Block size of each request", DefaultValueFactory = _ => "4K" };
        var qd = new Option<int>("--qd") { Description = "Requests in flight", DefaultValueFactory = _ => 16 };
        var seconds = new Option<double>("--seconds") { Description = "How long to run", DefaultValueFactory = _ => 10 };
        var range = new Option<string?>("--range") { Description = "Use only the first SIZE of the volume (default: all of it)" };
        var bench = new Command("bench", "Measure a volume: IOPS, MiB/s, latency p50/p99/p99.9 (fio-like)") { name, pattern, rw, bs, qd, seconds, range };
        globals.SetAction(bench, async (parse, context, cancellationToken) =>
        {
            var volumeName = parse.GetValue(name)!;
            var blockSize = SizeOption.Parse(parse.GetValue(bs), "--bs");
            if (blockSize < 512 || blockSize > 64 << 20 || blockSize % 512 != 0) throw new CliException($"--bs {SizeOption.Text(blockSize)} must be a multiple of 512 bytes up to 64MiB", CliException.Usage);
            var depth = parse.GetValue(qd);
            if (depth is < 1 or > 1024) throw new CliException($"--qd {depth} must be between 1 and 1024", CliException.Usage);
            var duration = parse.GetValue(seconds);
            if (duration is <= 0 or > 3600) throw new CliException($"--seconds {duration} must be between 0 and 3600", CliException.Usage);
            var rangeText = parse.GetValue(range);
            var options = new VolumeBenchmarkOptions
            {
                Pattern = parse.GetValue(pattern)!,
                ReadWrite = parse.GetValue(rw)!,
                BlockSize = (int)blockSize,
                QueueDepth = depth,
                Duration = TimeSpan.FromSeconds(duration),
                RangeBytes = rangeText is null ? 0 : SizeOption.Parse(rangeText, "--range"),
                Seed = Environment.ProcessId,
            };
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var info = VolumeCommands.RequireVolume(map, volumeName);
            if (options.ReadWrite == "write") VolumeCommands.RequireUnlocked(map, info, "run a write benchmark on");
            await using var session = await StorageSession.OpenAsync(context, cancellationToken).ConfigureAwait(false);
            await using var volume = session.OpenVolume(volumeName, readOnly: options.ReadWrite == "read", maxInFlight: Math.Max(64, depth * 2));
            if (volume.SizeBytes < blockSize) throw new CliException($"volume {volumeName} ({volume.SizeBytes} bytes) is smaller than --bs {SizeOption.Text(blockSize)}", CliException.Usage);
            if (!context.Json) context.Out.Note($"bench {volumeName}: {options.Pattern}{options.ReadWrite} bs={SizeOption.Text(blockSize)} qd={depth} for {duration:0.#} s ...");
            var result = await VolumeBenchmark.RunAsync(volume, options, cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["volume"] = volumeName,
                    ["pattern"] = options.Pattern,
                    ["rw"] = options.ReadWrite,
                    ["bs"] = blockSize,
                    ["qd"] = depth,
                    ["seconds"] = result.Seconds,
                    ["ops"] = result.Operations,
                    ["bytes"] = result.Bytes,
                    ["iops"] = result.Iops,
                    ["mibps"] = result.MiBPerSecond,
                    ["p50_us"] = result.P50Micros,
                    ["p99_us"] = result.P99Micros,
                    ["p999_us"] = result.P999Micros,
                    ["errors"] = result.Errors,
                    ["first_error"] = result.FirstError?.ToString(),
                });
            }
            else
            {
                var c = CultureInfo.InvariantCulture;
                context.Out.Line(string.Format(c, "{0}: {1:N0} ops in {2:0.0} s: {3:N0} IOPS, {4:0.0} MiB/s; latency p50 {5:0} us, p99 {6:0} us, p99.9 {7:0} us{8}",
                    volumeName, result.Operations, result.Seconds, result.Iops, result.MiBPerSecond, result.P50Micros, result.P99Micros, result.P999Micros,
                    result.Errors > 0 ? $"; {result.Errors} errors, the first: {result.FirstError}" : ""));
            }
            return result.Errors > 0 ? CliException.Failed : 0;
        });
        return bench;
    }
}
