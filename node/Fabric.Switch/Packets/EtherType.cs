namespace Fabric.Switch.Packets;

/// <summary>EtherType values the switch looks at (IEEE registry).</summary>
public static class EtherType
{
    public const ushort Ipv4 = 0x0800;
    public const ushort Arp = 0x0806;
    /// <summary>Reverse ARP: QEMU's self-announce after migration uses it (op 3, source = guest MAC).</summary>
    public const ushort Rarp = 0x8035;
    public const ushort Vlan = 0x8100;
    public const ushort QinQ = 0x88A8;
    public const ushort Ipv6 = 0x86DD;
}

/// <summary>IP protocol numbers (IANA).</summary>
public static class IpProtocol
{
    public const byte HopByHop = 0;
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Ipv6Routing = 43;
    public const byte Ipv6Fragment = 44;
    public const byte Icmpv6 = 58;
    public const byte Ipv6NoNext = 59;
    public const byte Ipv6DestOptions = 60;
}
