using System.CommandLine;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli;

/// <summary>Options every verb accepts, and the one way verbs run: errors become one line on stderr and
/// an exit code (0 success, 1 failed, 2 usage or config error).</summary>
public sealed class GlobalOptions
{
    public Option<bool> Json { get; } = new("--json") { Description = "Print the result as JSON (for scripts)", Recursive = true };

    public Option<string?> Config { get; } = new("--config") { Description = "Cluster config file (default: $FABRIC_HOME/cluster.toml, then ./cluster.example.toml)", Recursive = true };

    public Option<string?> Home { get; } = new("--home") { Description = "State directory of this machine's nodes (default: $FABRIC_HOME or ./.fabric)", Recursive = true };

    public Option<string[]> Monitor { get; } = new("--monitor") { Description = "A monitor's host:port, instead of the config's (repeatable)", Recursive = true, AllowMultipleArgumentsPerToken = false };

    public void AddTo(RootCommand root)
    {
        root.Options.Add(Json);
        root.Options.Add(Config);
        root.Options.Add(Home);
        root.Options.Add(Monitor);
    }

    public void SetAction(Command command, Func<ParseResult, CliContext, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var context = new CliContext(parse.GetValue(Json), parse.GetValue(Config), parse.GetValue(Home), parse.GetValue(Monitor) ?? []);
            try
            {
                return await action(parse, context, cancellationToken).ConfigureAwait(false);
            }
            catch (CliException e)
            {
                Console.Error.WriteLine("fabric: " + e.Message);
                return e.ExitCode;
            }
            catch (RpcException e)
            {
                Console.Error.WriteLine($"fabric: {e.Detail} ({e.StatusCode})");
                return e.StatusCode is StatusCode.InvalidArgument ? CliException.Usage : CliException.Failed;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Console.Error.WriteLine("fabric: interrupted");
                return 130;
            }
        });
    }
}
