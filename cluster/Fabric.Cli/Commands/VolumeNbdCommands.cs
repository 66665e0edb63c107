using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Core.Map;
using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric volume export-nbd VOL [--node N] [--read-only]` and `fabric volume unexport-nbd VOL [--node N]`:
/// a node serves a replicated volume over NBD to tools (qemu-img, qemu-io, QEMU's nbd driver). Prints the
/// unix-socket URI (for tools on the node's machine; `--tcp` for the TCP one). A writable export holds the
/// volume's exclusive lock until it is unexported, so no VM writes the volume meanwhile.
/// </summary>
public static class VolumeNbdCommands
{
    private static readonly RpcMethod<ExportNbdRequest, NbdExportInfo> Export =
        RpcMethod.From<ExportNbdRequest, NbdExportInfo>(BlockReflection.Descriptor, "fabric.BlockAdmin", "ExportNbd");
    private static readonly RpcMethod<UnexportNbdRequest, UnexportNbdReply> Unexport =
        RpcMethod.From<UnexportNbdRequest, UnexportNbdReply>(BlockReflection.Descriptor, "fabric.BlockAdmin", "UnexportNbd");
    private static readonly RpcMethod<FlushVolumeRequest, FlushVolumeReply> Flush =
        RpcMethod.From<FlushVolumeRequest, FlushVolumeReply>(BlockReflection.Descriptor, "fabric.BlockAdmin", "FlushVolume");

    /// <summary>
    /// Asks the node holding the volume's lock to make everything it acknowledged durable (its write cache), so a
    /// snapshot taken next holds what the guest wrote up to now. Returns a note when that node cannot be asked (it is
    /// down: what it had cached is lost as in a crash, and the snapshot is crash-consistent); throws when the node
    /// answers that the write-back failed.
    /// </summary>
    public static async Task<string?> FlushLockHolderAsync(ClusterMap map, VolumeInfo volume, CancellationToken cancellationToken)
    {
        if (volume.Lock is not { NodeId: > 0 } held || map.Nodes.FirstOrDefault(n => n.Id == held.NodeId) is not { } node) return null;
        if (node.State != NodeState.Up) return $"node {node.Name}, which holds the lock of {volume.Name}, is {node.State.ToString().ToLowerInvariant()}: the snapshot holds what reached the cluster";
        try
        {
            using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
            await channel.UnaryAsync(Flush, new FlushVolumeRequest { Volume = volume.Name }, CallOptions.WithTimeout(TimeSpan.FromSeconds(60), cancellationToken)).ConfigureAwait(false);
            return null;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition)
        {
            throw new CliException($"cannot take a consistent snapshot: {e.Status.Detail}");
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Unimplemented)
        {
            return $"node {node.Name}, which holds the lock of {volume.Name}, did not answer a flush ({e.StatusCode}): the snapshot holds what reached the cluster";
        }
    }

    /// <summary>Adds the verbs to the `volume` command (creating it when no other file did).</summary>
    public static void AddTo(RootCommand root, GlobalOptions globals)
    {
        var volume = root.Subcommands.FirstOrDefault(c => c.Name == "volume");
        if (volume is null)
        {
            volume = new Command("volume", "Replicated volumes");
            root.Subcommands.Add(volume);
        }
        volume.Subcommands.Add(ExportCommand(globals));
        volume.Subcommands.Add(UnexportCommand(globals));
    }

    private static Command ExportCommand(GlobalOptions globals)
    {
        var name = new Argument<string>("VOLUME") { Description = "Volume name (VOLUME@SNAP for a snapshot, read-only)" };
        var node = new Option<string?>("--node") { Description = "The node that serves it (default: the first node that is up)" };
        var readOnly = new Option<bool>("--read-only") { Description = "Serve reads only (no lock: a running VM's disk can be read)" };
        var tcp = new Option<bool>("--tcp") { Description = "Print the TCP URI (nbd://HOST:PORT/VOLUME) instead of the unix-socket one" };
        var command = new Command("export-nbd", "Serve a volume over NBD from a node and print its URI (nbd+unix:///VOLUME?socket=...)");
        command.Arguments.Add(name);
        command.Options.Add(node);
        command.Options.Add(readOnly);
        command.Options.Add(tcp);
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var volumeName = parse.GetValue(name)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var plain = volumeName.Split('@')[0];
            if (map.FindVolume(plain) is null) throw new CliException($"volume {plain} does not exist (fabric volume list shows the volumes)");
            var server = ChooseNode(map, parse.GetValue(node));
            using var channel = new RpcChannel(server.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
            var info = await channel.UnaryAsync(Export, new ExportNbdRequest { Volume = volumeName, ReadOnly = parse.GetValue(readOnly), MinEpoch = map.Epoch },
                CallOptions.WithTimeout(TimeSpan.FromSeconds(30), cancellationToken)).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["volume"] = info.Volume, ["node"] = info.Node, ["uri"] = parse.GetValue(tcp) ? info.TcpUri : info.UnixUri, ["unix_uri"] = info.UnixUri, ["tcp_uri"] = info.TcpUri,
                    ["socket"] = info.SocketPath, ["host"] = info.Host, ["port"] = info.Port, ["read_only"] = info.ReadOnly, ["locked"] = info.Locked, ["existed"] = info.Existed,
                });
            }
            else
            {
                context.Out.Line(parse.GetValue(tcp) ? info.TcpUri : info.UnixUri);
                context.Out.Note($"volume {volumeName} exported by node {info.Node} ({(info.ReadOnly ? "read-only" : "writable, locked")}); also {(parse.GetValue(tcp) ? info.UnixUri : info.TcpUri)}");
            }
            return 0;
        });
        return command;
    }

    private static Command UnexportCommand(GlobalOptions globals)
    {
        var name = new Argument<string>("VOLUME") { Description = "Volume name" };
        var node = new Option<string?>("--node") { Description = "The node that serves it (default: the first node that is up)" };
        var command = new Command("unexport-nbd", "Stop serving a volume over NBD (open connections keep it until they close) and release its lock");
        command.Arguments.Add(name);
        command.Options.Add(node);
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var volumeName = parse.GetValue(name)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var server = ChooseNode(map, parse.GetValue(node));
            using var channel = new RpcChannel(server.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
            var reply = await channel.UnaryAsync(Unexport, new UnexportNbdRequest { Volume = volumeName }, CallOptions.WithTimeout(TimeSpan.FromSeconds(30), cancellationToken)).ConfigureAwait(false);
            if (context.Json) context.Out.WriteJson(new JsonObject { ["volume"] = volumeName, ["node"] = server.Name, ["removed"] = reply.Removed });
            else context.Out.Line(reply.Removed ? $"volume {volumeName} is no longer exported by {server.Name}" : $"volume {volumeName} was not exported by {server.Name}");
            return 0;
        });
        return command;
    }

    private static NodeInfo ChooseNode(ClusterMap map, string? name)
    {
        if (name is not null)
        {
            var node = map.FindNode(name) ?? throw new CliException($"node {name} is not in the cluster (fabric node list shows the nodes)");
            if (node.State != NodeState.Up) throw new CliException($"node {name} is down; choose another with --node");
            return node;
        }
        return map.Nodes.Where(n => n.State == NodeState.Up).OrderBy(n => n.Id).FirstOrDefault()
            ?? throw new CliException("no node is up to serve the volume (fabric status)");
    }
}
