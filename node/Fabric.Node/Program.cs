using Fabric.Config.Loading;
using Fabric.Node.Hosting;
using Fabric.Node.Parts;
using Microsoft.Extensions.Logging;

namespace Fabric.Node;

/// <summary>
/// `Fabric.Node run --config FILE --name NODE [--home DIR]`: the node daemon. `fabric node run` starts
/// it; `fabric up` starts one per node of a config file in the background. Stops cleanly on SIGTERM
/// and SIGINT. Exit codes: 0 clean stop, 1 failure while running, 2 bad arguments or config.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        string? configPath = null, name = null, home = null;
        var logFormat = "json";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "run" when i == 0:
                    break;
                case "--config" when i + 1 < args.Length:
                    configPath = args[++i];
                    break;
                case "--name" when i + 1 < args.Length:
                    name = args[++i];
                    break;
                case "--home" when i + 1 < args.Length:
                    home = args[++i];
                    break;
                case "--log-format" when i + 1 < args.Length:
                    logFormat = args[++i];
                    break;
                default:
                    Console.Error.WriteLine($"Fabric.Node: unexpected argument '{args[i]}'. Usage: Fabric.Node run --config FILE --name NODE [--home DIR] [--log-format json|text]");
                    return 2;
            }
        }
        if (configPath is null || name is null)
        {
            Console.Error.WriteLine("Fabric.Node: --config FILE and --name NODE are required. Usage: Fabric.Node run --config FILE --name NODE [--home DIR]");
            return 2;
        }
        home = Path.GetFullPath(home ?? Environment.GetEnvironmentVariable("FABRIC_HOME") ?? ".fabric");

        var loaded = ClusterConfigLoader.Load(configPath);
        foreach (var warning in loaded.Warnings) Console.Error.WriteLine(warning);
        if (!loaded.Succeeded)
        {
            foreach (var error in loaded.Errors) Console.Error.WriteLine(error);
            return 2;
        }
        var config = loaded.Config!;
        var node = config.FindNode(name);
        if (node is null)
        {
            Console.Error.WriteLine($"Fabric.Node: {configPath} has no [[node]] named '{name}' (it has: {string.Join(", ", config.Nodes.Select(n => n.Name))})");
            return 2;
        }

        using var loggers = LoggerFactory.Create(logging =>
        {
            logging.SetMinimumLevel(LogLevel.Information);
            logging.AddFilter("Microsoft", LogLevel.Warning);
            if (logFormat == "text")
            {
                logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; o.IncludeScopes = true; });
            }
            else
            {
                logging.AddJsonConsole(o => { o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; o.UseUtcTimestamp = true; o.IncludeScopes = true; });
            }
        });
        var log = loggers.CreateLogger("Fabric.Node");
        using var stop = new CancellationTokenSource();
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Cancel(); });
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stop.Cancel(); });

        await using var daemon = new NodeDaemon(config, node, home, loggers, NodeParts.Create(config, node, loggers));
        try
        {
            await daemon.StartAsync(stop.Token);
            await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { });
            return 0;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
        catch (Exception e)
        {
            log.LogCritical(e, "Node {Name} failed: {Error}", name, e.Message);
            return 1;
        }
    }
}
