using System.CommandLine;
using Fabric.Cli.Commands;

namespace Fabric.Cli;

/// <summary>
/// `fabric`: the command line of a Fabric cluster, in the spirit of `ceph`, `rbd`, `virsh` and
/// `ovs-vsctl`. Every verb talks to the nodes over their gRPC API; `--json` prints one JSON document.
/// Exit codes: 0 success, 1 the operation failed, 2 usage or config error.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var globals = new GlobalOptions();
        var root = new RootCommand("fabric: software-defined storage and network virtualization (volumes, networks, VMs)");
        globals.AddTo(root);
        root.Subcommands.Add(UpCommand.Create(globals));
        root.Subcommands.Add(DownCommand.Create(globals));
        root.Subcommands.Add(StatusCommand.Create(globals));
        root.Subcommands.Add(NodeCommands.Create(globals));
        root.Subcommands.Add(ConfigCommands.Create(globals));
        root.Subcommands.Add(PoolCommands.Create(globals));
        root.Subcommands.Add(VolumeCommands.Create(globals));
        root.Subcommands.Add(PgCommands.Create(globals));
        root.Subcommands.Add(OsdCommands.Create(globals));
        root.Subcommands.Add(NetCommands.Create(globals));
        root.Subcommands.Add(VmCommands.Create(globals));
        root.Subcommands.Add(ImageCommands.Create(globals));
        VolumeNbdCommands.AddTo(root, globals);

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine("fabric: " + error.Message);
            Console.Error.WriteLine("fabric: see `fabric --help` (or `fabric VERB --help`)");
            return CliException.Usage;
        }
        return await parse.InvokeAsync().ConfigureAwait(false);
    }
}
