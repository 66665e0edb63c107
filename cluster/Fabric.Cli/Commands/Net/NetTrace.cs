using System.Text.Json.Nodes;
using Fabric.Proto;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli.Commands.Net;

/// <summary>
/// `fabric net trace NET --from PORT --dst-mac MAC [--dst-ip IP] ...`: the path a packet would take,
/// like `ovs-appctl ofproto/trace`. The node whose switch has PORT (the active one, when a migration
/// left an inactive copy elsewhere) walks the packet through its tables; where the packet leaves
/// through the VXLAN tunnel, the receiving node traces it on from its tunnel port with the same
/// addresses. Nothing is sent.
/// </summary>
internal static class NetTrace
{
    public sealed record Options(string Network, string FromPort, string DstMac, string? DstIp, string? SrcMac, string? SrcIp,
        string? Protocol, int DstPort, int SrcPort, string? Node, string? FromNode);

    public static async Task<int> RunAsync(CliContext context, Options options, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        NetViews.RequireNetwork(map, options.Network);
        using var nodes = new SwitchNodes(map);
        if (options.FromPort == "vxlan0" && (options.Node is null || options.FromNode is null))
            throw new CliException("--from vxlan0 needs --node (where the packet arrives) and --from-node (the node that sent it)", CliException.Usage);
        var owner = options.Node is { } pinned ? nodes.Require(pinned) : await FindPortAsync(map, nodes, options.FromPort, cancellationToken).ConfigureAwait(false);

        var request = new TraceRequest
        {
            Network = options.Network,
            FromPort = options.FromPort,
            DstMac = options.DstMac,
            DstIp = options.DstIp ?? "",
            SrcMac = options.SrcMac ?? "",
            SrcIp = options.SrcIp ?? "",
            Protocol = options.Protocol ?? "",
            DstPort = (uint)options.DstPort,
            SrcPort = (uint)options.SrcPort,
            FromNode = options.FromNode ?? "",
        };
        var first = await nodes.AskAsync(owner, (c, o) => c.UnaryAsync(SwitchAdminMethods.Trace, request, o), cancellationToken).ConfigureAwait(false);
        var hops = new List<(string Node, TraceReply Reply)> { (owner.Name, first) };
        foreach (var remote in first.RemoteNodes)
        {
            var next = map.Nodes.FirstOrDefault(n => n.Name == remote);
            if (next is null || next.State != NodeState.Up)
            {
                hops.Add((remote, new TraceReply { Lines = { $"node {remote} is down or unknown: not traced further" }, DropReason = "node down" }));
                continue;
            }
            var onward = request.Clone();
            onward.FromPort = "vxlan0";
            onward.FromNode = owner.Name;
            onward.SrcMac = first.SrcMac;
            onward.SrcIp = first.SrcIp;
            try
            {
                hops.Add((remote, await nodes.Channel(next).UnaryAsync(SwitchAdminMethods.Trace, onward, SwitchNodes.Options(cancellationToken)).ConfigureAwait(false)));
            }
            catch (RpcException e)
            {
                hops.Add((remote, new TraceReply { Lines = { $"node {remote} could not trace it: {e.Detail}" }, DropReason = "trace failed" }));
            }
        }

        if (context.Json)
        {
            context.Out.WriteJson(new JsonObject
            {
                ["network"] = options.Network,
                ["from_port"] = options.FromPort,
                ["hops"] = new JsonArray(hops.Select(h => (JsonNode)new JsonObject
                {
                    ["node"] = h.Node,
                    ["flow"] = h.Reply.Flow,
                    ["lines"] = new JsonArray(h.Reply.Lines.Select(l => (JsonNode)l).ToArray()),
                    ["outputs"] = new JsonArray(h.Reply.Outputs.Select(l => (JsonNode)l).ToArray()),
                    ["drop_reason"] = h.Reply.DropReason,
                    ["arp_reply"] = h.Reply.ArpReply,
                    ["remote_nodes"] = new JsonArray(h.Reply.RemoteNodes.Select(l => (JsonNode)l).ToArray()),
                }).ToArray()),
            });
            return 0;
        }
        for (int i = 0; i < hops.Count; i++)
        {
            var (node, reply) = hops[i];
            if (i > 0) context.Out.Line("");
            context.Out.Line(i == 0 ? $"== node {node}, from port {options.FromPort}" : $"== node {node}, from vxlan0 (tunnelled by {owner.Name})");
            foreach (var line in reply.Lines) context.Out.Line(line);
        }
        context.Out.Line("");
        context.Out.Line("Final: " + string.Join("; ", hops.Select(h => $"{h.Node}: " + (h.Reply.Outputs.Count > 0 ? string.Join(", ", h.Reply.Outputs) : $"drop ({h.Reply.DropReason})"))));
        return 0;
    }

    /// <summary>The up node whose switch has the port; the active one when several have it.</summary>
    public static async Task<NodeInfo> FindPortAsync(ClusterMap map, SwitchNodes nodes, string port, CancellationToken cancellationToken)
    {
        var answers = await nodes.AskAllAsync((c, o) => c.UnaryAsync(SwitchAdminMethods.PortStats, new PortStatsRequest { Port = port }, o), cancellationToken).ConfigureAwait(false);
        var having = answers.Where(a => a.Reply is { Ports.Count: > 0 }).ToList();
        if (having.Count == 0)
        {
            var nic = VmNicRef.All(map).FirstOrDefault(n => n.Port == port);
            var hint = nic is null
                ? "no VM NIC of the map has that port name either (ports are VM-INDEX, e.g. vm1-0; fabric net show NET lists them)"
                : $"it is VM {nic.Vm.Spec.Name}'s NIC {nic.Index} ({nic.State}{(nic.Node.Length > 0 ? $", placed on {nic.Node}" : "")}): is the VM running?";
            var silent = answers.Where(a => a.Error is not null && !a.NotFound).Select(a => $"{a.Node.Name} ({a.ErrorText})").ToList();
            throw new CliException($"no node's switch has a port {port}; {hint}" + (silent.Count > 0 ? $"; not answering: {string.Join(", ", silent)}" : ""));
        }
        return (having.FirstOrDefault(a => a.Reply!.Ports[0].Active) ?? having[0]).Node;
    }
}
