using System.Globalization;
using System.Text.Json.Nodes;
using Fabric.Core.Map;
using Fabric.Proto;
using Spectre.Console;
using Out = Fabric.Cli.Output.Output;

namespace Fabric.Cli.Commands.Net;

/// <summary>
/// `fabric net list`, `net show NET`, `net fdb NET`: the networks as the map defines them, and what
/// every up node's switch has of them (ports and counters, MAC tables). A node that does not answer is
/// named in the output; the others are still shown.
/// </summary>
internal static class NetViews
{
    public static async Task<int> ListAsync(CliContext context, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        using var nodes = new SwitchNodes(map);
        var answers = await nodes.AskAllAsync((c, o) => c.UnaryAsync(SwitchAdminMethods.ListNetworks, new ListNetworksRequest(), o), cancellationToken).ConfigureAwait(false);
        var networks = map.Networks.OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
        if (context.Json)
        {
            context.Out.WriteJson(new JsonObject
            {
                ["epoch"] = map.Epoch,
                ["networks"] = new JsonArray(networks.Select(n =>
                {
                    var json = NetworkJson(n);
                    json["vms"] = VmNicRef.On(map, n.Name).Count();
                    json["ports"] = new JsonObject(answers.Where(a => a.Reply is not null).Select(a => new KeyValuePair<string, JsonNode?>(
                        a.Node.Name, a.Reply!.Networks.FirstOrDefault(s => s.Name == n.Name)?.LocalPorts ?? 0)));
                    return (JsonNode)json;
                }).ToArray()),
                ["unreachable"] = Unreachable(answers, nodes),
            });
            return 0;
        }
        var table = Out.Table("name", "kind", "segment", "subnet", "mtu", "acl", "vms", "ports");
        foreach (var n in networks)
        {
            var ports = answers.Where(a => a.Reply is not null)
                .Select(a => $"{a.Node.Name}:{a.Reply!.Networks.FirstOrDefault(s => s.Name == n.Name)?.LocalPorts ?? 0}");
            table.AddRow(Out.Esc(n.Name), Out.Esc(n.Kind), Segment(n), Out.Esc(n.Subnet), n.Mtu.ToString(CultureInfo.InvariantCulture),
                n.Acl.Count.ToString(CultureInfo.InvariantCulture), VmNicRef.On(map, n.Name).Count().ToString(CultureInfo.InvariantCulture), Out.Esc(string.Join(" ", ports)));
        }
        context.Out.Write(table);
        context.Out.Line(networks.Count == 0 ? $"no networks (map epoch {map.Epoch}): define [[network]] tables and `fabric net apply FILE`" : $"map epoch {map.Epoch}");
        NoteUnreachable(context, answers, nodes);
        return 0;
    }

    public static async Task<int> ShowAsync(CliContext context, string name, bool flows, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        var network = RequireNetwork(map, name);
        using var nodes = new SwitchNodes(map);
        var answers = await nodes.AskAllAsync((c, o) => c.UnaryAsync(SwitchAdminMethods.ShowNetwork, new ShowNetworkRequest { Network = name }, o), cancellationToken).ConfigureAwait(false);
        var nics = VmNicRef.On(map, name).ToList();
        if (context.Json)
        {
            var json = NetworkJson(network);
            json["epoch"] = map.Epoch;
            json["vm_nics"] = new JsonArray(nics.Select(n => (JsonNode)new JsonObject
            {
                ["vm"] = n.Vm.Spec.Name, ["port"] = n.Port, ["mac"] = n.Nic.Mac, ["ip"] = n.Nic.Ip, ["node"] = n.Node, ["state"] = n.State,
            }).ToArray());
            json["nodes"] = new JsonArray(answers.Select(a => (JsonNode)(a.Reply is { } r ? new JsonObject
            {
                ["node"] = a.Node.Name,
                ["flood_nodes"] = new JsonArray(r.Network.FloodNodes.Select(f => (JsonNode)f).ToArray()),
                ["fdb_entries"] = r.Network.FdbEntries,
                ["arp_bindings"] = r.Network.ArpBindings,
                ["ports"] = new JsonArray(r.Ports.Select(p => (JsonNode)PortJson(p)).ToArray()),
                ["flows"] = flows ? new JsonArray(r.Flows.Select(f => (JsonNode)f).ToArray()) : null,
            } : new JsonObject { ["node"] = a.Node.Name, ["error"] = a.ErrorText })).ToArray());
            context.Out.WriteJson(json);
            return 0;
        }
        var o = context.Out;
        o.Line($"network {network.Name} (id {network.Id}): {Segment(network)}, subnet {network.Subnet}{(network.Gateway.Length > 0 ? $", gateway {network.Gateway}" : "")}, mtu {network.Mtu}"
            + (network.Uplink.Length > 0 ? $", uplink {network.Uplink}" : ""));
        if (network.Acl.Count > 0)
        {
            o.Line("acl (higher priority first; without a matching rule traffic is allowed):");
            var acl = Out.Table("priority", "action", "direction", "protocol", "cidr", "ports");
            foreach (var r in network.Acl.OrderByDescending(r => r.Priority))
            {
                acl.AddRow(r.Priority.ToString(CultureInfo.InvariantCulture), Out.Esc(r.Action), Out.Esc(r.Direction.Length > 0 ? r.Direction : "both"),
                    Out.Esc(r.Protocol.Length > 0 ? r.Protocol : "any"), Out.Esc(r.Cidr.Length > 0 ? r.Cidr : "any"),
                    r.PortMin == 0 && r.PortMax == 0 ? "any" : r.PortMin == r.PortMax ? r.PortMin.ToString(CultureInfo.InvariantCulture) : $"{r.PortMin}-{r.PortMax}");
            }
            o.Write(acl);
        }
        if (nics.Count > 0)
        {
            o.Line("VM NICs (from the map):");
            var t = Out.Table("vm", "port", "mac", "ip", "node", "state");
            foreach (var n in nics) t.AddRow(Out.Esc(n.Vm.Spec.Name), Out.Esc(n.Port), Out.Esc(n.Nic.Mac), Out.Esc(n.Nic.Ip), Out.Esc(n.Node), Out.Esc(n.State));
            o.Write(t);
        }
        var ports = Out.Table("node", "port", "kind", "active", "rx pkts", "tx pkts", "drops", "where");
        foreach (var a in answers)
        {
            if (a.Reply is not { } r)
            {
                ports.AddRow(Out.Esc(a.Node.Name), "-", "-", "-", "-", "-", "-", Out.Esc($"no answer: {a.ErrorText}"));
                continue;
            }
            foreach (var p in r.Ports)
            {
                ports.AddRow(Out.Esc(a.Node.Name), Out.Esc(p.Name), Out.Esc(p.Kind), p.Active ? "yes" : "no", p.RxPackets.ToString(CultureInfo.InvariantCulture),
                    p.TxPackets.ToString(CultureInfo.InvariantCulture), Out.Esc(Drops(p)), Out.Esc(p.Description));
            }
        }
        if (ports.Rows.Count == 0)
        {
            o.Line("ports: none on any node's switch (VM NICs get theirs when the VM runs; `fabric net attach` adds host ports)");
        }
        else
        {
            o.Line("ports (from each node's switch):");
            o.Write(ports);
        }
        foreach (var a in answers.Where(a => a.Reply is not null))
        {
            var r = a.Reply!;
            var flood = r.Network.FloodNodes.Count > 0 ? string.Join(", ", r.Network.FloodNodes) : "none";
            o.Line($"{a.Node.Name}: broadcasts go to {flood}; {r.Network.FdbEntries} MAC(s) known; ARP answered for {r.Network.ArpBindings} address(es)");
            if (flows)
            {
                foreach (var f in r.Flows) o.Line("  " + f);
            }
        }
        NoteDown(context, nodes);
        return 0;
    }

    public static async Task<int> FdbAsync(CliContext context, string name, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        RequireNetwork(map, name);
        using var nodes = new SwitchNodes(map);
        var answers = await nodes.AskAllAsync((c, o) => c.UnaryAsync(SwitchAdminMethods.Fdb, new FdbRequest { Network = name }, o), cancellationToken).ConfigureAwait(false);
        var rows = answers.Where(a => a.Reply is not null)
            .SelectMany(a => a.Reply!.Entries.Select(e => (Node: a.Node.Name, Entry: e)))
            .OrderBy(r => r.Entry.Mac, StringComparer.Ordinal).ThenBy(r => r.Node, StringComparer.Ordinal).ToList();
        if (context.Json)
        {
            context.Out.WriteJson(new JsonObject
            {
                ["network"] = name,
                ["epoch"] = map.Epoch,
                ["entries"] = new JsonArray(rows.Select(r => (JsonNode)new JsonObject
                {
                    ["seen_by"] = r.Node,
                    ["mac"] = r.Entry.Mac,
                    ["port"] = r.Entry.Port,
                    ["node"] = r.Entry.Node,
                    ["kind"] = r.Entry.Kind,
                    ["age_ms"] = r.Entry.AgeMs,
                }).ToArray()),
                ["moves"] = new JsonObject(answers.Where(a => a.Reply is not null).Select(a => new KeyValuePair<string, JsonNode?>(a.Node.Name, a.Reply!.Moves))),
                ["unreachable"] = Unreachable(answers, nodes),
            });
            return 0;
        }
        var owners = VmNicRef.On(map, name).ToDictionary(n => n.Nic.Mac.ToLowerInvariant(), n => n.Vm.Spec.Name);
        var table = Out.Table("switch of", "mac", "vm", "where", "kind", "age");
        foreach (var (node, e) in rows)
        {
            var where = e.Port.Length > 0 ? $"port {e.Port}" : $"node {e.Node} (vxlan)";
            table.AddRow(Out.Esc(node), Out.Esc(e.Mac), Out.Esc(owners.GetValueOrDefault(e.Mac.ToLowerInvariant(), "")), Out.Esc(where), Out.Esc(e.Kind),
                $"{e.AgeMs / 1000.0:0.0}s");
        }
        context.Out.Write(table);
        context.Out.Line($"{rows.Count} entr{(rows.Count == 1 ? "y" : "ies")} on {answers.Count(a => a.Reply is not null)} node(s); map epoch {map.Epoch}");
        NoteUnreachable(context, answers, nodes);
        return 0;
    }

    public static NetworkInfo RequireNetwork(ClusterMap map, string name) =>
        map.FindNetwork(name) ?? throw new CliException(
            $"network {name} is not in the cluster ({(map.Networks.Count == 0 ? "it has none" : "networks: " + string.Join(", ", map.Networks.Select(n => n.Name).Order()))}); define it in a [[network]] table and `fabric net apply FILE`");

    public static string Segment(NetworkInfo n) => n.Kind == "vlan" ? $"vlan {n.Vlan}" : n.Kind == "vxlan" ? $"vni {n.Vni}" : n.Kind;

    private static string Drops(PortStatsEntry p) =>
        p.DropPackets == 0 ? "0" : $"{p.DropPackets} ({string.Join(", ", p.Drops.Select(d => $"{d.Reason} {d.Packets}"))})";

    public static JsonObject NetworkJson(NetworkInfo n) => new()
    {
        ["name"] = n.Name,
        ["id"] = n.Id,
        ["kind"] = n.Kind,
        ["vlan"] = n.Vlan,
        ["vni"] = n.Vni,
        ["subnet"] = n.Subnet,
        ["gateway"] = n.Gateway,
        ["mtu"] = n.Mtu,
        ["uplink"] = n.Uplink,
        ["acl"] = new JsonArray(n.Acl.Select(r => (JsonNode)new JsonObject
        {
            ["action"] = r.Action, ["direction"] = r.Direction, ["protocol"] = r.Protocol, ["cidr"] = r.Cidr,
            ["port_min"] = r.PortMin, ["port_max"] = r.PortMax, ["priority"] = r.Priority,
        }).ToArray()),
    };

    public static JsonObject PortJson(PortStatsEntry p) => new()
    {
        ["name"] = p.Name,
        ["kind"] = p.Kind,
        ["network"] = p.Network,
        ["active"] = p.Active,
        ["rx_packets"] = p.RxPackets,
        ["rx_bytes"] = p.RxBytes,
        ["tx_packets"] = p.TxPackets,
        ["tx_bytes"] = p.TxBytes,
        ["drop_packets"] = p.DropPackets,
        ["drops"] = new JsonObject(p.Drops.Select(d => new KeyValuePair<string, JsonNode?>(d.Reason, d.Packets))),
        ["description"] = p.Description,
    };

    private static JsonArray Unreachable<T>(IReadOnlyList<NodeAnswer<T>> answers, SwitchNodes nodes) where T : class =>
        new(answers.Where(a => a.Error is not null).Select(a => (JsonNode)new JsonObject { ["node"] = a.Node.Name, ["error"] = a.ErrorText })
            .Concat(nodes.Down.Select(n => (JsonNode)new JsonObject { ["node"] = n.Name, ["error"] = "down" })).ToArray());

    private static void NoteUnreachable<T>(CliContext context, IReadOnlyList<NodeAnswer<T>> answers, SwitchNodes nodes) where T : class
    {
        foreach (var a in answers.Where(a => a.Error is not null)) context.Out.Note($"node {a.Node.Name} did not answer: {a.ErrorText}");
        NoteDown(context, nodes);
    }

    private static void NoteDown(CliContext context, SwitchNodes nodes)
    {
        foreach (var n in nodes.Down) context.Out.Note($"node {n.Name} is down: not asked");
    }
}
