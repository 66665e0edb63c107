// Extracts a FlowKey from a frame in one pass. Never throws: the result is FrameError.None or the reason
// the frame is malformed, which the caller counts and drops. Offsets of the layers are returned for the
// actions that rewrite or answer a frame (pop VLAN, decap, ARP reply).
namespace Fabric.Switch.Packets;

public struct FrameLayout
{
    /// <summary>Offset of the Ethernet header: 8 for a frame received through a VXLAN tunnel.</summary>
    public int EthOffset;
    public int L3Offset;
    /// <summary>-1 when the frame has no L4 header the parser understood.</summary>
    public int L4Offset;
}

public static class FrameParser
{
    /// <summary>Parses an Ethernet frame that arrived on <paramref name="inPort"/>.</summary>
    public static FrameError Parse(Span<byte> frame, ushort inPort, out FlowKey key, out FrameLayout layout)
    {
        key = default;
        key.InPort = inPort;
        layout = default;
        return ParseEthernet(frame, 0, ref key, ref layout);
    }

    /// <summary>Parses a VXLAN payload (the UDP payload: VXLAN header, then the inner frame).</summary>
    public static FrameError ParseVxlan(Span<byte> udpPayload, ushort inPort, out FlowKey key, out FrameLayout layout)
    {
        key = default;
        key.InPort = inPort;
        layout = default;
        var err = VxlanHeader.TryParse(udpPayload, out var vx);
        if (err != FrameError.None) return err;
        key.Vni = vx.Vni;
        key.Flags |= FlowKeyFlags.Tunnel;
        return ParseEthernet(udpPayload, VxlanHeader.Length, ref key, ref layout);
    }

    private static FrameError ParseEthernet(Span<byte> buffer, int offset, ref FlowKey key, ref FrameLayout layout)
    {
        Span<byte> frame = buffer[offset..];
        layout.EthOffset = offset;
        layout.L4Offset = -1;
        var err = EthernetFrame.TryParse(frame, out var eth);
        if (err != FrameError.None) return err;
        key.EthDst = eth.Destination.Value;
        key.EthSrc = eth.Source.Value;
        if (eth.HasVlanTag) key.Vlan = (ushort)(eth.Vlan.VlanId | FlowKey.VlanPresent);
        key.EthType = eth.EtherType;
        int l3 = eth.PayloadOffset;
        layout.L3Offset = offset + l3;
        Span<byte> payload = frame[l3..];
        switch (key.EthType)
        {
            case EtherType.Arp:
            case EtherType.Rarp:
            {
                err = ArpPacket.TryParse(payload, out var arp);
                if (err != FrameError.None) return err;
                key.IpProto = (byte)arp.Operation;
                key.IpSrc = IpBits.FromIpv4(arp.SenderIp);
                key.IpDst = IpBits.FromIpv4(arp.TargetIp);
                if (arp.SenderMac.Value != key.EthSrc) key.Flags |= FlowKeyFlags.ArpShaMismatch;
                return FrameError.None;
            }
            case EtherType.Ipv4:
            {
                err = Ipv4Packet.TryParse(payload, out var ip);
                if (err != FrameError.None) return err;
                key.IpSrc = IpBits.FromIpv4(ip.Source);
                key.IpDst = IpBits.FromIpv4(ip.Destination);
                key.IpProto = ip.Protocol;
                if (ip.FragmentOffset != 0)
                {
                    key.Flags |= FlowKeyFlags.LaterFragment;
                    return FrameError.None;
                }
                return ParseL4(ip.Payload, layout.L3Offset + ip.HeaderLength, ref key, ref layout);
            }
            case EtherType.Ipv6:
            {
                err = Ipv6Packet.TryParse(payload, out var ip6);
                if (err != FrameError.None) return err;
                key.IpSrc = ip6.Source;
                key.IpDst = ip6.Destination;
                err = ip6.UpperLayer(out byte proto, out int l4, out bool later);
                if (err != FrameError.None) return err;
                key.IpProto = proto;
                if (later)
                {
                    key.Flags |= FlowKeyFlags.LaterFragment;
                    return FrameError.None;
                }
                return ParseL4(ip6.Bytes[l4..], layout.L3Offset + l4, ref key, ref layout);
            }
            default:
                return FrameError.None;
        }
    }

    private static FrameError ParseL4(Span<byte> l4, int l4Offset, ref FlowKey key, ref FrameLayout layout)
    {
        FrameError err;
        switch (key.IpProto)
        {
            case IpProtocol.Tcp:
                err = TcpSegment.TryParse(l4, out var tcp);
                if (err != FrameError.None) return err;
                key.L4Src = tcp.SourcePort;
                key.L4Dst = tcp.DestinationPort;
                break;
            case IpProtocol.Udp:
                err = UdpDatagram.TryParse(l4, out var udp);
                if (err != FrameError.None) return err;
                key.L4Src = udp.SourcePort;
                key.L4Dst = udp.DestinationPort;
                break;
            case IpProtocol.Icmp:
            case IpProtocol.Icmpv6:
                err = IcmpMessage.TryParse(l4, out var icmp);
                if (err != FrameError.None) return err;
                key.L4Src = icmp.Type;
                key.L4Dst = icmp.Code;
                break;
            default:
                return FrameError.None;
        }
        layout.L4Offset = l4Offset;
        return FrameError.None;
    }
}
