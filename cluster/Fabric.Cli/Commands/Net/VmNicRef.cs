using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Cli.Commands.Net;

/// <summary>
/// A VM NIC as the map has it, with the switch port name the node gives it: the NIC's `port`, or
/// "VM-INDEX" (the hypervisor's rule, Fabric.Hypervisor VmSpecCheck.PortName).
/// </summary>
internal sealed record VmNicRef(VmInfo Vm, int Index, VmNic Nic, string Port, string Node)
{
    public static IEnumerable<VmNicRef> All(ClusterMap map) =>
        map.Vms.Where(vm => vm.Spec is not null).SelectMany(vm => vm.Spec.Nics.Select((nic, i) => new VmNicRef(
            vm, i, nic, string.IsNullOrEmpty(nic.Port) ? $"{vm.Spec.Name}-{i}" : nic.Port,
            vm.NodeId == 0 ? "" : map.FindNode(vm.NodeId)?.Name ?? $"node{vm.NodeId}")));

    public static IEnumerable<VmNicRef> On(ClusterMap map, string network) => All(map).Where(n => n.Nic.Network == network);

    public string State => Vm.State.StateText();
}
