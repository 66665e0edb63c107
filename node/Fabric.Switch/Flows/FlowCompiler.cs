// Compiles the switch's configuration (networks, ports, ACLs, ARP bindings) into flow rules. The whole
// rule set is recompiled on every configuration change and swapped in at once: configurations are small
// (tens of networks, hundreds of ports) and a full compile keeps the rules a pure function of the config.
//
// Tables:
//   0 ingress     classify the frame into a network (by port, VLAN tag or VNI); port security for VMs
//   1 from-VM ACL the network's "out" rules for frames a VM sent
//   2 forwarding  ARP answers for known IPs, then the MAC-learning bridge (normal)
//   3 to-VM ACL   the network's "in" rules, evaluated for each VM port a frame is about to be sent to
using Fabric.Proto;
using Fabric.Switch.Datapath;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;

namespace Fabric.Switch.Flows;

public static class FlowCompiler
{
    public const int TableIngress = 0;
    public const int TableAclFromVm = 1;
    public const int TableForwarding = 2;
    public const int TableAclToVm = 3;

    private static readonly FlowMatch AnyMatch = FlowMatch.Any;

    public static List<FlowRule> Compile(IEnumerable<SwitchNetwork> networks, IEnumerable<SwitchPort> ports,
        Func<SwitchPort, SwitchNetwork, bool> trunkCarries)
    {
        var nets = networks.OrderBy(n => n.Id).ToList();
        var byName = nets.ToDictionary(n => n.Name);
        var rules = new List<FlowRule>();
        foreach (var p in ports.OrderBy(p => p.Number))
        {
            switch (p.Kind)
            {
                case PortKind.Vm when byName.TryGetValue(p.Network, out var n):
                    AddVmPortSecurity(rules, p, n);
                    break;
                case PortKind.Access when byName.TryGetValue(p.Network, out var n):
                    rules.Add(new FlowRule(TableIngress, 100, new FlowMatch { InPort = p.Number },
                        [FlowAction.SetNetwork(n.Id), FlowAction.GotoTable(TableAclFromVm)], $"port:{p.Name}"));
                    break;
                case PortKind.Trunk:
                    foreach (var n in nets.Where(n => n.Spec.Kind == NetworkKind.Vlan && trunkCarries(p, n)))
                        rules.Add(new FlowRule(TableIngress, 100, new FlowMatch { InPort = p.Number, Vlan = n.Spec.Vlan },
                            [FlowAction.PopVlan, FlowAction.SetNetwork(n.Id), FlowAction.GotoTable(TableAclFromVm)], $"trunk:{p.Name}"));
                    rules.Add(new FlowRule(TableIngress, 50, new FlowMatch { InPort = p.Number },
                        [FlowAction.Drop(DropReason.UnknownVlan)], $"trunk:{p.Name}"));
                    break;
                case PortKind.Tunnel:
                    foreach (var n in nets.Where(n => n.Spec.Kind == NetworkKind.Vxlan))
                        rules.Add(new FlowRule(TableIngress, 100, new FlowMatch { InPort = p.Number, Vni = n.Spec.Vni },
                            [FlowAction.Decap, FlowAction.SetNetwork(n.Id), FlowAction.GotoTable(TableAclFromVm)], $"tunnel:{p.Name}"));
                    rules.Add(new FlowRule(TableIngress, 50, new FlowMatch { InPort = p.Number },
                        [FlowAction.Drop(DropReason.UnknownVni)], $"tunnel:{p.Name}"));
                    break;
            }
        }
        rules.Add(new FlowRule(TableIngress, 0, AnyMatch, [FlowAction.Drop(DropReason.NoNetwork)], "default"));

        foreach (var n in nets)
            foreach (var (rule, i) in n.Spec.Acl.Select((r, i) => (r, i)))
            {
                if (rule.Direction is "" or "out")
                    foreach (var m in AclMatches(rule, n.Id, toVm: false))
                        rules.Add(new FlowRule(TableAclFromVm, AclPriority(rule), m with { InPortKind = PortKind.Vm },
                            IsDeny(rule) ? [FlowAction.Drop(DropReason.Acl)] : [FlowAction.GotoTable(TableForwarding)], $"acl:{n.Name}#{i}"));
                if (rule.Direction is "" or "in")
                    foreach (var m in AclMatches(rule, n.Id, toVm: true))
                        rules.Add(new FlowRule(TableAclToVm, AclPriority(rule), m with { OutPortKind = PortKind.Vm },
                            IsDeny(rule) ? [FlowAction.Drop(DropReason.Acl)] : [], $"acl:{n.Name}#{i}"));
            }
        rules.Add(new FlowRule(TableAclFromVm, 0, AnyMatch, [FlowAction.GotoTable(TableForwarding)], "default"));
        rules.Add(new FlowRule(TableAclToVm, 0, AnyMatch, [], "default"));

        // Requests that came through the tunnel were not answered by the sender's node, which knows the
        // same bindings; answering here too would only duplicate; let them reach the VMs.
        rules.Add(new FlowRule(TableForwarding, 200, new FlowMatch { InPortKind = PortKind.Tunnel, EthType = EtherType.Arp },
            [FlowAction.Normal], "arp-responder"));
        foreach (var n in nets)
            foreach (var b in n.Spec.ArpBindings)
                rules.Add(new FlowRule(TableForwarding, 100,
                    new FlowMatch { Network = n.Id, EthType = EtherType.Arp, IpProto = (byte)ArpPacket.OpRequest, IpDst = IpPrefix.Ipv4Host(b.Ip) },
                    [FlowAction.ArpReply(b.Mac)], $"arp:{n.Name}"));
        rules.Add(new FlowRule(TableForwarding, 0, AnyMatch, [FlowAction.Normal], "default"));
        return rules;
    }

    private static void AddVmPortSecurity(List<FlowRule> rules, SwitchPort p, SwitchNetwork n)
    {
        string owner = $"port:{p.Name}";
        FlowAction[] admit = [FlowAction.SetNetwork(n.Id), FlowAction.GotoTable(TableAclFromVm)];
        // Only untagged frames are admitted: a VM NIC is an access port, and a tag it adds itself must not
        // ride inside its network's frames to where a tag means something (a trunk, a guest's VLAN device).
        var self = new FlowMatch { InPort = p.Number, EthSrc = p.Mac, Vlan = FlowMatch.Untagged };
        rules.Add(new FlowRule(TableIngress, 310, new FlowMatch { InPort = p.Number, Flags = FlowKeyFlags.ArpShaMismatch },
            [FlowAction.Drop(DropReason.SpoofedMac)], owner));
        if (p.Ipv4 != 0)
        {
            var ip = IpPrefix.Ipv4Host(p.Ipv4);
            var unspecified = IpPrefix.Ipv4Host(0);
            rules.Add(new FlowRule(TableIngress, 300, self with { EthType = EtherType.Ipv4, IpSrc = ip }, admit, owner));
            rules.Add(new FlowRule(TableIngress, 300, self with { EthType = EtherType.Arp, IpSrc = ip }, admit, owner));
            // ARP probes (RFC 5227) and DHCP before the VM has its address use 0.0.0.0.
            rules.Add(new FlowRule(TableIngress, 300, self with { EthType = EtherType.Arp, IpSrc = unspecified }, admit, owner));
            rules.Add(new FlowRule(TableIngress, 300, self with
            {
                EthType = EtherType.Ipv4, IpSrc = unspecified, IpProto = IpProtocol.Udp, L4SrcMin = 68, L4SrcMax = 68, L4DstMin = 67, L4DstMax = 67,
            }, admit, owner));
            rules.Add(new FlowRule(TableIngress, 200, self with { EthType = EtherType.Ipv4 }, [FlowAction.Drop(DropReason.SpoofedIp)], owner));
            rules.Add(new FlowRule(TableIngress, 200, self with { EthType = EtherType.Arp }, [FlowAction.Drop(DropReason.SpoofedIp)], owner));
        }
        // IPv6, RARP and other protocols: the MAC is enforced; the map knows no IPv6 addresses to enforce.
        rules.Add(new FlowRule(TableIngress, 100, self, admit, owner));
        rules.Add(new FlowRule(TableIngress, 60, self with { Vlan = null }, [FlowAction.Drop(DropReason.TaggedOnAccess)], owner));
        rules.Add(new FlowRule(TableIngress, 50, new FlowMatch { InPort = p.Number }, [FlowAction.Drop(DropReason.SpoofedMac)], owner));
    }

    private static bool IsDeny(AclRule r) => string.Equals(r.Action, "deny", StringComparison.OrdinalIgnoreCase);

    /// <summary>ACL priorities sit above the tables' defaults (0) and keep the config's order (higher first).</summary>
    private static int AclPriority(AclRule r) => 1000 + Math.Clamp(r.Priority, -999, 1_000_000);

    /// <summary>
    /// Matches for one ACL rule: the remote side is the destination for frames from a VM and the source
    /// for frames to a VM; the port range is the destination port either way (as in security groups).
    /// ACLs apply to IP traffic only: ARP and other non-IP frames are never matched.
    /// </summary>
    private static IEnumerable<FlowMatch> AclMatches(AclRule r, int network, bool toVm)
    {
        IpPrefix? remote = null;
        if (!string.IsNullOrWhiteSpace(r.Cidr))
        {
            if (!IpPrefix.TryParse(r.Cidr, out var p)) yield break; // validated by the config layer; a bad one matches nothing
            remote = p;
        }
        bool v4Only = remote is { } rp && IpBits.IsMappedIpv4(rp.Value) && rp.Length >= 96;
        bool v6Only = remote is { } rq && !(IpBits.IsMappedIpv4(rq.Value) && rq.Length >= 96);
        string proto = (r.Protocol ?? "").ToLowerInvariant();
        ushort? lo = r.PortMin == 0 && r.PortMax == 0 ? null : (ushort)r.PortMin;
        ushort? hi = r.PortMin == 0 && r.PortMax == 0 ? null : (ushort)(r.PortMax == 0 ? r.PortMin : r.PortMax);
        foreach (var (etherType, v6) in new[] { (EtherType.Ipv4, false), (EtherType.Ipv6, true) })
        {
            if ((v6 && v4Only) || (!v6 && v6Only)) continue;
            byte? ipProto = proto switch
            {
                "tcp" => IpProtocol.Tcp,
                "udp" => IpProtocol.Udp,
                "icmp" => v6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp,
                _ => null,
            };
            bool ports = ipProto is IpProtocol.Tcp or IpProtocol.Udp;
            yield return new FlowMatch
            {
                Network = network,
                EthType = etherType,
                IpProto = ipProto,
                IpSrc = toVm ? remote : null,
                IpDst = toVm ? null : remote,
                L4DstMin = ports ? lo : null,
                L4DstMax = ports ? hi : null,
            };
        }
    }
}
