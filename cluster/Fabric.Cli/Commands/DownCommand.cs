using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Cli.Local;

namespace Fabric.Cli.Commands;

/// <summary>`fabric down [--purge]`: stops every process `fabric up` started on this machine (nodes,
/// then etcd): SIGTERM, then SIGKILL after a grace. `--purge` also deletes $FABRIC_HOME (all data).</summary>
public static class DownCommand
{
    public static Command Create(GlobalOptions globals)
    {
        var purge = new Option<bool>("--purge") { Description = "Also delete every node's data, logs and state ($FABRIC_HOME)" };
        var down = new Command("down", "Stop this machine's nodes (and etcd); --purge deletes their data");
        down.Options.Add(purge);
        globals.SetAction(down, async (parse, context, cancellationToken) =>
        {
            var processes = new LocalProcesses(context.Home);
            var names = processes.Recorded().ToList();
            // Nodes first (they leave the cluster cleanly while etcd still answers), etcd last.
            var ordered = names.Where(n => n != EtcdProcess.Name).Concat(names.Where(n => n == EtcdProcess.Name)).ToList();
            var stopped = new List<string>();
            await Task.WhenAll(ordered.Where(n => n != EtcdProcess.Name).Select(async name =>
            {
                if (await processes.StopAsync(name, TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false))
                {
                    lock (stopped) stopped.Add(name);
                }
            })).ConfigureAwait(false);
            if (ordered.Contains(EtcdProcess.Name) && await processes.StopAsync(EtcdProcess.Name, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false))
            {
                stopped.Add(EtcdProcess.Name);
            }
            var purged = false;
            if (parse.GetValue(purge) && Directory.Exists(context.Home))
            {
                Directory.Delete(context.Home, recursive: true);
                purged = true;
            }
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject { ["stopped"] = new JsonArray(stopped.Select(s => (JsonNode)s).ToArray()), ["purged"] = purged, ["home"] = context.Home });
            }
            else
            {
                context.Out.Line(stopped.Count == 0 ? "nothing was running" : $"stopped {string.Join(", ", stopped.Order())}");
                if (purged) context.Out.Line($"deleted {context.Home}");
            }
            return 0;
        });
        return down;
    }
}
