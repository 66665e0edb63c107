using Fabric.Switch.Packets;

namespace Fabric.Switch.Control;

/// <summary>How a node's switch is set up. Everything else (networks, VMs, other nodes) comes from the map.</summary>
public sealed record SwitchOptions
{
    /// <summary>This node's name (logs, metrics tags).</summary>
    public string NodeName { get; init; } = "";
    /// <summary>IPv4 address the VXLAN endpoint binds; "" = the node's data_address from the map.</summary>
    public string DataAddress { get; init; } = "";
    /// <summary>UDP port of every node's VXLAN endpoint (the cluster uses one port).</summary>
    public ushort VxlanPort { get; init; } = VxlanHeader.DefaultPort;
    /// <summary>Interface that carries VLAN networks whose map entry names no uplink ("" = none).</summary>
    public string Uplink { get; init; } = "";
    public TimeSpan MacAgingTime { get; init; } = TimeSpan.FromSeconds(300);
    /// <summary>
    /// A network namespace (a path like /var/run/netns/NAME) the datapath thread enters before it creates
    /// any socket, so that the switch's VXLAN endpoint and uplinks live there. Null = the process's own.
    /// </summary>
    public string? NetworkNamespace { get; init; }
    /// <summary>
    /// Nice value for the datapath thread (-20..19; null = inherit). Kernel bridges forward in softirq
    /// context, ahead of every user thread; on a busy machine a negative value gives the switch's
    /// thread a comparable claim on the CPU. Needs CAP_SYS_NICE for values below the current one.
    /// </summary>
    public int? DatapathNice { get; init; }
    /// <summary>Largest VXLAN datagram handled (inner frame + 8).</summary>
    public int MaxVxlanDatagram { get; init; } = 9216;
}
