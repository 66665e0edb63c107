namespace Fabric.Switch.Packets;

/// <summary>
/// Why a frame could not be parsed. Parsing never throws: a malformed frame yields one of these, and the
/// switch counts it under the reason's name and drops the frame. A switch that forwarded half-parsed
/// frames would let a VM slip past port security with an IP header the switch could not read.
/// </summary>
public enum FrameError : byte
{
    None = 0,
    EthernetTruncated,
    VlanTruncated,
    ArpTruncated,
    ArpUnsupported,
    Ipv4Truncated,
    Ipv4BadHeader,
    Ipv6Truncated,
    Ipv6BadHeader,
    IcmpTruncated,
    UdpTruncated,
    UdpBadLength,
    TcpTruncated,
    TcpBadHeader,
    VxlanTruncated,
    VxlanNoVni,
    FrameTooLong,
}
