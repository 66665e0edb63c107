using System.CommandLine;
using Fabric.Cli.Storage;

namespace Fabric.Cli.Commands;

/// <summary>`fabric osd perf`: every OSD's latency per stage of its ops (like `ceph osd perf`), from each up node's
/// StorageAdmin.OsdStatus; an OSD whose node is down or does not answer is listed as such (see <see cref="OsdPerfReport"/>).</summary>
public static class OsdCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var osd = new Command("osd", "OSDs (one per node): latency per stage of their ops");

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
        return osd;
    }
}
