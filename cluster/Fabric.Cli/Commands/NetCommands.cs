using System.CommandLine;
using Fabric.Cli.Commands.Net;
using Fabric.Core.Units;
using Fabric.Proto;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric net`: virtual networks. `apply FILE` makes the map's networks those of a file ([[network]]
/// tables, or a whole cluster config); `list`, `show NET`, `fdb NET` read the map and every node's
/// switch; `trace NET --from PORT ...` shows the path a packet would take (like ovs-appctl
/// ofproto/trace); `capture NET --out FILE.pcap` records what the switches forward; `attach`, `detach`,
/// `activate` manage ports on one node's switch (like ovs-vsctl add-port).
/// </summary>
public static class NetCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var net = new Command("net", "Virtual networks (VLAN, VXLAN): apply, list, show, fdb, trace, capture, ports");
        net.Subcommands.Add(Apply(globals));
        net.Subcommands.Add(List(globals));
        net.Subcommands.Add(Show(globals));
        net.Subcommands.Add(Fdb(globals));
        net.Subcommands.Add(Trace(globals));
        net.Subcommands.Add(Capture(globals));
        net.Subcommands.Add(Attach(globals));
        net.Subcommands.Add(NodePortVerb(globals, "detach", "Remove a port from a node's switch", NetPorts.DetachAsync));
        net.Subcommands.Add(NodePortVerb(globals, "activate", "Make an inactive port forward and claim its MAC on that node", NetPorts.ActivateAsync));
        return net;
    }

    private static Command Apply(GlobalOptions globals)
    {
        var file = new Argument<string>("FILE") { Description = "[[network]] tables (a networks file, or a whole cluster config)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Show the plan only" };
        var apply = new Command("apply", "Make the cluster's networks those of FILE: show the plan, then apply it (networks not in FILE are deleted; re-applying is a no-op)");
        apply.Arguments.Add(file);
        apply.Options.Add(dryRun);
        globals.SetAction(apply, (parse, context, ct) => NetApply.RunAsync(context, parse.GetValue(file)!, parse.GetValue(dryRun), ct));
        return apply;
    }

    private static Command List(GlobalOptions globals)
    {
        var list = new Command("list", "Every network: kind, segment, subnet, MTU, ACL rules, VM NICs and ports per node");
        globals.SetAction(list, (_, context, ct) => NetViews.ListAsync(context, ct));
        return list;
    }

    private static Command Show(GlobalOptions globals)
    {
        var name = new Argument<string>("NET") { Description = "Network name" };
        var flows = new Option<bool>("--flows") { Description = "Also print each node's flow rules for the network" };
        var show = new Command("show", "One network: its definition, ACL, VM NICs, and each node's ports with their counters");
        show.Arguments.Add(name);
        show.Options.Add(flows);
        globals.SetAction(show, (parse, context, ct) => NetViews.ShowAsync(context, parse.GetValue(name)!, parse.GetValue(flows), ct));
        return show;
    }

    private static Command Fdb(GlobalOptions globals)
    {
        var name = new Argument<string>("NET") { Description = "Network name" };
        var fdb = new Command("fdb", "The MAC tables of a network, merged from every node's switch (which node knows which MAC where)");
        fdb.Arguments.Add(name);
        globals.SetAction(fdb, (parse, context, ct) => NetViews.FdbAsync(context, parse.GetValue(name)!, ct));
        return fdb;
    }

    private static Command Trace(GlobalOptions globals)
    {
        var name = new Argument<string>("NET") { Description = "Network name" };
        var from = new Option<string>("--from") { Description = "Ingress port (a VM NIC port such as vm1-0, an access port, an uplink, or vxlan0 with --node)", Required = true };
        var dstMac = new Option<string>("--dst-mac") { Description = "Destination MAC (ff:ff:ff:ff:ff:ff for a broadcast)", Required = true };
        var dstIp = new Option<string?>("--dst-ip") { Description = "Destination IPv4: the packet is IPv4 (ICMP echo unless --protocol says otherwise)" };
        var srcMac = new Option<string?>("--src-mac") { Description = "Source MAC (default: the port's own)" };
        var srcIp = new Option<string?>("--src-ip") { Description = "Source IPv4 (default: the port's own)" };
        var protocol = new Option<string?>("--protocol") { Description = "icmp (default), tcp, udp, or arp (an ARP request for --dst-ip)" };
        var dstPort = new Option<int>("--dst-port") { Description = "TCP/UDP destination port" };
        var srcPort = new Option<int>("--src-port") { Description = "TCP/UDP source port (default 40000)" };
        var node = new Option<string?>("--node") { Description = "The node whose switch has the port (default: found by asking every node)" };
        var fromNode = new Option<string?>("--from-node") { Description = "With --from vxlan0: the node the packet comes from" };
        var trace = new Command("trace", "The path a packet would take through the switches (nothing is sent), like ovs-appctl ofproto/trace");
        trace.Arguments.Add(name);
        foreach (var o in new Option[] { from, dstMac, dstIp, srcMac, srcIp, protocol, dstPort, srcPort, node, fromNode }) trace.Options.Add(o);
        globals.SetAction(trace, (parse, context, ct) => NetTrace.RunAsync(context, new NetTrace.Options(
            parse.GetValue(name)!, parse.GetValue(from)!, parse.GetValue(dstMac)!, parse.GetValue(dstIp), parse.GetValue(srcMac), parse.GetValue(srcIp),
            parse.GetValue(protocol), parse.GetValue(dstPort), parse.GetValue(srcPort), parse.GetValue(node), parse.GetValue(fromNode)), ct));
        return trace;
    }

    private static Command Capture(GlobalOptions globals)
    {
        var name = new Argument<string>("NET") { Description = "Network name" };
        var port = new Option<string?>("--port") { Description = "Only frames received on or sent to this port (on the node that has it)" };
        var node = new Option<string?>("--node") { Description = "Only this node's switch (default: every up node)" };
        var output = new Option<string>("--out") { Description = "The pcap file to write", Required = true };
        var count = new Option<int>("--count") { Description = "Stop after this many frames (default: no limit)" };
        var duration = new Option<string?>("--duration") { Description = "Stop after this long (\"10s\", \"2m\")" };
        var capture = new Command("capture", "Record a network's frames into a pcap file (tshark/Wireshark read it)");
        capture.Arguments.Add(name);
        foreach (var o in new Option[] { port, node, output, count, duration }) capture.Options.Add(o);
        globals.SetAction(capture, (parse, context, ct) =>
        {
            TimeSpan? limit = null;
            if (parse.GetValue(duration) is { } text)
            {
                if (!DurationText.TryParse(text, out var value, out var error)) throw new CliException($"--duration {text}: {error}", CliException.Usage);
                limit = value;
            }
            return NetCapture.RunAsync(context, new NetCapture.Options(parse.GetValue(name)!, parse.GetValue(port), parse.GetValue(node),
                parse.GetValue(output)!, parse.GetValue(count), limit), ct);
        });
        return capture;
    }

    private static Command Attach(GlobalOptions globals)
    {
        var name = new Argument<string>("NET") { Description = "Network name" };
        var node = new Option<string>("--node") { Description = "The node whose switch gets the port", Required = true };
        var port = new Option<string>("--port") { Description = "Port name, unique on the node", Required = true };
        var iface = new Option<string?>("--interface") { Description = "Attach this existing interface (AF_PACKET), e.g. a namespace's veth end" };
        var tap = new Option<string?>("--tap") { Description = "Create a TAP interface of this name as the port" };
        var socket = new Option<string?>("--socket") { Description = "A VM NIC: the unix socket its QEMU listens on (-netdev stream,server=on)" };
        var mac = new Option<string?>("--mac") { Description = "With --socket: the NIC's MAC (the port may send only from it)" };
        var ip = new Option<string?>("--ip") { Description = "With --socket: the NIC's address, 10.10.0.11/24" };
        var inactive = new Option<bool>("--inactive") { Description = "With --socket: attach inactive (activate later)" };
        var noOffloads = new Option<bool>("--no-offloads") { Description = "With --interface: plain frames, no virtio-net header (turn the interface's offloads off)" };
        var attach = new Command("attach", "Attach a port to a node's switch: a host interface, a new TAP, or a VM NIC's stream socket");
        attach.Arguments.Add(name);
        foreach (var o in new Option[] { node, port, iface, tap, socket, mac, ip, inactive, noOffloads }) attach.Options.Add(o);
        globals.SetAction(attach, (parse, context, ct) =>
        {
            var chosen = new[] { (parse.GetValue(iface), "interface"), (parse.GetValue(tap), "tap"), (parse.GetValue(socket), "stream") }.Where(c => c.Item1 is not null).ToList();
            if (chosen.Count != 1) throw new CliException("give exactly one of --interface IF, --tap IF, --socket PATH", CliException.Usage);
            var (target, kind) = chosen[0];
            var request = new AttachPortRequest
            {
                Port = parse.GetValue(port)!,
                Kind = kind,
                Interface = kind == "stream" ? "" : target!,
                SocketPath = kind == "stream" ? Path.GetFullPath(target!) : "",
                Mac = parse.GetValue(mac) ?? "",
                Ip = parse.GetValue(ip) ?? "",
                Inactive = parse.GetValue(inactive),
                NoOffloads = parse.GetValue(noOffloads),
            };
            return NetPorts.AttachAsync(context, parse.GetValue(name)!, parse.GetValue(node)!, request, ct);
        });
        return attach;
    }

    private static Command NodePortVerb(GlobalOptions globals, string verb, string description, Func<CliContext, string, string, CancellationToken, Task<int>> run)
    {
        var node = new Option<string>("--node") { Description = "The node whose switch has the port", Required = true };
        var port = new Option<string>("--port") { Description = "Port name", Required = true };
        var command = new Command(verb, description);
        command.Options.Add(node);
        command.Options.Add(port);
        globals.SetAction(command, (parse, context, ct) => run(context, parse.GetValue(node)!, parse.GetValue(port)!, ct));
        return command;
    }
}
