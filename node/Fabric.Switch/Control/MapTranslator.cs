// Turns a cluster map into what the datapath needs: network specs (with the remote nodes that get each
// network's broadcasts and the IP -> MAC bindings the switch answers ARP for), VM MACs placed on other
// nodes, and the other nodes' tunnel endpoints. A pure function of the map, so two nodes with the same
// epoch agree.
using Fabric.Proto;
using Fabric.Switch.Datapath;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Control;

public sealed record MapView(
    IReadOnlyList<NetworkSpec> Networks,
    IReadOnlyDictionary<(int Network, ulong Mac), uint> RemoteMacs,
    IReadOnlyList<(uint Node, string Name, uint Address)> Remotes,
    uint LocalAddress,
    IReadOnlyList<string> Problems);

public static class MapTranslator
{
    public static MapView Translate(ClusterMap map, uint localNodeId, string uplinkDefault = "")
    {
        var problems = new List<string>();
        var remotes = new List<(uint, string, uint)>();
        uint local = 0;
        foreach (var n in map.Nodes)
        {
            uint addr = 0;
            if (!string.IsNullOrEmpty(n.DataAddress) && !TryParseAddress(n.DataAddress, out addr))
                problems.Add($"node {n.Name}: data address '{n.DataAddress}' is not an IPv4 address; no tunnel to it");
            if (n.Id == localNodeId) local = addr;
            else if (addr != 0) remotes.Add((n.Id, n.Name, addr));
        }
        var remoteIds = remotes.Select(r => r.Item1).ToHashSet();
        var netIds = map.Networks.ToDictionary(n => n.Name, n => (int)n.Id);
        // Remote VM MACs are installed only where the switch reaches other nodes itself (VXLAN); on a
        // VLAN network the uplink's physical segment is learned like any bridge would.
        var vxlanNets = map.Networks.Where(n => string.Equals(n.Kind, "vxlan", StringComparison.OrdinalIgnoreCase)).Select(n => n.Name).ToHashSet();
        var remoteMacs = new Dictionary<(int, ulong), uint>();
        var flood = map.Networks.ToDictionary(n => n.Name, _ => new SortedSet<uint>());
        var arp = map.Networks.ToDictionary(n => n.Name, _ => new List<ArpBinding>());
        foreach (var vm in map.Vms)
        {
            if (vm.Spec is null) continue;
            foreach (var nic in vm.Spec.Nics)
            {
                if (!netIds.TryGetValue(nic.Network, out int netId)) continue;
                if (!MacAddress.TryParse(nic.Mac, out var mac))
                {
                    problems.Add($"vm {vm.Spec.Name}: MAC '{nic.Mac}' is not a MAC address");
                    continue;
                }
                if (TryParseCidrAddress(nic.Ip, out uint ip)) arp[nic.Network].Add(new ArpBinding(ip, mac));
                foreach (var node in new[] { vm.NodeId, vm.MigratingTo })
                    if (node != 0 && node != localNodeId && remoteIds.Contains(node)) flood[nic.Network].Add(node);
                if (vm.NodeId != 0 && vm.NodeId != localNodeId && remoteIds.Contains(vm.NodeId) && vxlanNets.Contains(nic.Network))
                    remoteMacs[(netId, mac.Value)] = vm.NodeId;
            }
        }
        var specs = new List<NetworkSpec>();
        foreach (var n in map.Networks)
        {
            var kind = n.Kind?.ToLowerInvariant() switch
            {
                "vlan" => NetworkKind.Vlan,
                "vxlan" => NetworkKind.Vxlan,
                _ => (NetworkKind?)null,
            };
            if (kind is null)
            {
                problems.Add($"network {n.Name}: kind '{n.Kind}' is neither vlan nor vxlan; ignored");
                continue;
            }
            specs.Add(new NetworkSpec
            {
                Id = (int)n.Id,
                Name = n.Name,
                Kind = kind.Value,
                Vlan = (ushort)n.Vlan,
                Vni = n.Vni,
                Mtu = n.Mtu == 0 ? (kind == NetworkKind.Vxlan ? 1450 : 1500) : (int)n.Mtu,
                Subnet = n.Subnet ?? "",
                Uplink = string.IsNullOrEmpty(n.Uplink) ? uplinkDefault : n.Uplink,
                Acl = n.Acl.ToList(),
                FloodNodes = kind == NetworkKind.Vxlan ? flood[n.Name].ToList() : [],
                // Sorted so that equal maps give equal specs (no needless recompiles).
                ArpBindings = arp[n.Name].Distinct().OrderBy(b => b.Ip).ToList(),
            });
        }
        return new MapView(specs, remoteMacs, remotes, local, problems);
    }

    /// <summary>"10.0.0.1" or "10.0.0.1:4789" (the port is the cluster-wide VXLAN port; ignored here).</summary>
    public static bool TryParseAddress(string text, out uint address)
    {
        int colon = text.IndexOf(':');
        if (colon >= 0 && text.IndexOf(':', colon + 1) < 0) text = text[..colon];
        return IpBits.TryParseIpv4(text, out address);
    }

    /// <summary>"10.10.0.11/24" or "10.10.0.11" -> the address; "" -> false.</summary>
    public static bool TryParseCidrAddress(string? text, out uint address)
    {
        address = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        int slash = text.IndexOf('/');
        return IpBits.TryParseIpv4(slash >= 0 ? text[..slash] : text, out address);
    }
}
