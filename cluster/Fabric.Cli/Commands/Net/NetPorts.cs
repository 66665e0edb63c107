using System.Text.Json.Nodes;
using Fabric.Proto;

namespace Fabric.Cli.Commands.Net;

/// <summary>
/// `fabric net attach NET --node N --port P (--interface IF | --tap IF | --socket PATH --mac MAC [--ip CIDR])`,
/// `fabric net detach --node N --port P`, `fabric net activate --node N --port P`: ports on one node's
/// switch, like `ovs-vsctl add-port`. The hypervisor attaches VM NICs by itself; these are for host
/// interfaces (a namespace's veth, a TAP for the host) and for tools and tests that play a VM.
/// </summary>
internal static class NetPorts
{
    public static async Task<int> AttachAsync(CliContext context, string network, string nodeName, AttachPortRequest request, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        NetViews.RequireNetwork(map, network);
        using var nodes = new SwitchNodes(map);
        var node = nodes.Require(nodeName);
        request.Network = network;
        var reply = await nodes.AskAsync(node, (c, o) => c.UnaryAsync(SwitchAdminMethods.AttachPort, request, o), cancellationToken).ConfigureAwait(false);
        if (context.Json)
        {
            var json = NetViews.PortJson(reply.Port);
            json["node"] = node.Name;
            context.Out.WriteJson(json);
        }
        else
        {
            context.Out.Line($"port {reply.Port.Name} attached to {network} on {node.Name} ({reply.Port.Kind}, {(reply.Port.Active ? "active" : "inactive")}): {reply.Port.Description}");
        }
        return 0;
    }

    public static async Task<int> DetachAsync(CliContext context, string nodeName, string port, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        using var nodes = new SwitchNodes(map);
        var node = nodes.Require(nodeName);
        var reply = await nodes.AskAsync(node, (c, o) => c.UnaryAsync(SwitchAdminMethods.DetachPort, new DetachPortRequest { Port = port }, o), cancellationToken).ConfigureAwait(false);
        if (context.Json) context.Out.WriteJson(new JsonObject { ["node"] = node.Name, ["port"] = port, ["removed"] = reply.Removed });
        else context.Out.Line(reply.Removed ? $"port {port} detached from {node.Name}" : $"{node.Name} has no port {port} (nothing to detach)");
        return 0;
    }

    public static async Task<int> ActivateAsync(CliContext context, string nodeName, string port, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        using var nodes = new SwitchNodes(map);
        var node = nodes.Require(nodeName);
        await nodes.AskAsync(node, (c, o) => c.UnaryAsync(SwitchAdminMethods.ActivatePort, new ActivatePortRequest { Port = port }, o), cancellationToken).ConfigureAwait(false);
        if (context.Json) context.Out.WriteJson(new JsonObject { ["node"] = node.Name, ["port"] = port, ["active"] = true });
        else context.Out.Line($"port {port} on {node.Name} is active");
        return 0;
    }
}
