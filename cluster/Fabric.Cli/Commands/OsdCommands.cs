using System.CommandLine;
using Fabric.Cli.Storage;

namespace Fabric.Cli.Commands;

/// <summary>`fabric osd perf`: every OSD's latency per stage of its ops (like `ceph osd perf`), from each up node's
/// StorageAdmin.OsdStatus; an OSD whose node is down or does not answer is listed as such (see <see cref="OsdPerfReport"/>).</summary>
public static class OsdCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var osd = new Command("osd", "OSDs (one per node): latency per stage of their ops, and the ops they hold");

        var perf = new Command("perf",
            "Every OSD's latency per stage since the OSD started (its perf counters, as `ceph osd perf` until they are reset; " +
            "here a restart resets them): client writes at their primary, the primary's own commit, replica acknowledgements, " +
            "writes as a replica, client reads and store syncs, in ms; --json: every stage (also write_prepare) with its count, mean, p50 and p99");
        globals.SetAction(perf, async (_, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var report = await OsdPerfReport.GatherAsync(map, cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(report.ToJson());
                return 0;
            }
            if (report.Osds.Count == 0)
            {
                context.Out.Line("no OSDs: no node has joined yet (fabric up)");
                return 0;
            }
            context.Out.Write(report.Table());
            context.Out.Line($"{report.Osds.Count} osd(s), {report.Osds.Count(o => o.Reachable)} answered; ms since each OSD started, p50/p99 within about 6 %. " +
                "commit: the primary's own copy; replica ack: the primary waiting for a replica; replica commit: this OSD as a replica");
            foreach (var o in report.Osds.Where(o => o.Up && !o.Reachable)) context.Out.Note($"osd.{o.Osd} ({o.Node}) did not answer: {o.Error}");
            return 0;
        });
        osd.Subcommands.Add(perf);
        osd.Subcommands.Add(CreateOps(globals));
        return osd;
    }

    /// <summary>`fabric osd ops [--older-than D] [--limit N]`: the ops every OSD holds, oldest first (<see cref="OsdOpsReport"/>).</summary>
    private static Command CreateOps(GlobalOptions globals)
    {
        var olderThan = new Option<string?>("--older-than") { Description = "Only ops held at least this long (\"5s\", \"1m\"; default: every op in flight)" };
        var limit = new Option<int>("--limit") { Description = "At most this many ops per OSD, the oldest (default 100)" };
        var ops = new Command("ops",
            "The client ops each OSD accepted and has not answered, oldest first, with what each waits for (peering, min_replicas, " +
            "replica acks and which OSDs, an object's recovery, a scrub chunk), as `ceph daemon osd.N dump_ops_in_flight`; " +
            "with the resends each OSD merged and the reused request ids it refused");
        ops.Options.Add(olderThan);
        ops.Options.Add(limit);
        globals.SetAction(ops, async (parse, context, cancellationToken) =>
        {
            var request = new Fabric.Proto.ListOsdOpsRequest();
            if (parse.GetValue(olderThan) is { } text)
            {
                if (!Core.Units.DurationText.TryParse(text, out var age, out var error)) throw new CliException($"--older-than {text}: {error}", CliException.Usage);
                request.OlderThanSeconds = age.TotalSeconds;
            }
            int max = parse.GetValue(limit);
            if (max < 0) throw new CliException($"--limit {max}: give a positive number of ops (or leave it out for 100)", CliException.Usage);
            request.Limit = (uint)max;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var report = await OsdOpsReport.GatherAsync(map, request, cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(report.ToJson());
                return 0;
            }
            if (report.Osds.Count == 0)
            {
                context.Out.Line("no OSDs: no node has joined yet (fabric up)");
                return 0;
            }
            if (report.Ops().Any())
            {
                context.Out.Write(report.Table());
            }
            else
            {
                context.Out.Line(request.OlderThanSeconds > 0 ? $"no op held for {parse.GetValue(olderThan)} or longer" : "no op in flight");
            }
            foreach (var line in report.Summary()) context.Out.Line(line);
            return 0;
        });
        return ops;
    }
}
