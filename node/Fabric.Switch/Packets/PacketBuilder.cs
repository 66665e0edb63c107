// Builds well-formed frames into a caller's buffer and returns the length written: test traffic, the
// switch's own ARP answers, and VXLAN encapsulation checks. Checksums are computed; lengths are exact
// (no Ethernet padding: QEMU's stream netdev carries frames without it, and the kernel pads on the wire).
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public static class PacketBuilder
{
    /// <summary>Writes the Ethernet header (with an 802.1Q tag when <paramref name="vlan"/> is set) and returns its length.</summary>
    public static int Ethernet(Span<byte> b, MacAddress destination, MacAddress source, ushort etherType, ushort? vlan = null)
    {
        destination.Write(b);
        source.Write(b[6..]);
        int o = 12;
        if (vlan is ushort vid)
        {
            VlanTag.Write(b[12..], vid);
            o += VlanTag.Length;
        }
        BinaryPrimitives.WriteUInt16BigEndian(b[o..], etherType);
        return o + 2;
    }

    public static int Arp(Span<byte> b, ushort op, MacAddress ethDestination, MacAddress senderMac, uint senderIp,
        MacAddress targetMac, uint targetIp, ushort? vlan = null, ushort etherType = EtherType.Arp)
    {
        int o = Ethernet(b, ethDestination, senderMac, etherType, vlan);
        ArpPacket.Write(b[o..], op, senderMac, senderIp, targetMac, targetIp);
        return o + ArpPacket.Length;
    }

    public static int ArpRequest(Span<byte> b, MacAddress senderMac, uint senderIp, uint targetIp, ushort? vlan = null) =>
        Arp(b, ArpPacket.OpRequest, MacAddress.Broadcast, senderMac, senderIp, MacAddress.Zero, targetIp, vlan);

    public static int ArpReply(Span<byte> b, MacAddress senderMac, uint senderIp, MacAddress targetMac, uint targetIp, ushort? vlan = null) =>
        Arp(b, ArpPacket.OpReply, targetMac, senderMac, senderIp, targetMac, targetIp, vlan);

    /// <summary>A gratuitous ARP (request with SPA = TPA), what a guest sends after it moved.</summary>
    public static int GratuitousArp(Span<byte> b, MacAddress mac, uint ip, ushort? vlan = null) =>
        Arp(b, ArpPacket.OpRequest, MacAddress.Broadcast, mac, ip, MacAddress.Zero, ip, vlan);

    /// <summary>QEMU's self-announce after migration: RARP (0x8035), op 3, SHA = THA = guest MAC, addresses 0.</summary>
    public static int RarpAnnounce(Span<byte> b, MacAddress mac, ushort? vlan = null) =>
        Arp(b, ArpPacket.OpReverseRequest, MacAddress.Broadcast, mac, 0, mac, 0, vlan, EtherType.Rarp);

    public static int Ipv4(Span<byte> b, MacAddress dstMac, MacAddress srcMac, uint srcIp, uint dstIp, byte protocol,
        ReadOnlySpan<byte> l4, ushort? vlan = null, ushort identification = 0, byte ttl = 64)
    {
        int o = Ethernet(b, dstMac, srcMac, EtherType.Ipv4, vlan);
        int total = Ipv4Packet.MinHeaderLength + l4.Length;
        Ipv4Packet.WriteHeader(b[o..], total, protocol, srcIp, dstIp, identification, ttl);
        l4.CopyTo(b[(o + Ipv4Packet.MinHeaderLength)..]);
        return o + total;
    }

    /// <summary>ICMP echo request (or reply) with the given payload.</summary>
    public static int IcmpEcho(Span<byte> b, MacAddress dstMac, MacAddress srcMac, uint srcIp, uint dstIp,
        ushort identifier, ushort sequence, ReadOnlySpan<byte> payload, bool reply = false, ushort? vlan = null)
    {
        int eth = vlan is null ? EthernetFrame.HeaderLength : EthernetFrame.HeaderLength + VlanTag.Length;
        int l4Off = eth + Ipv4Packet.MinHeaderLength;
        int l4Len = IcmpMessage.HeaderLength + payload.Length;
        // Build the ICMP message in place, then the headers in front of it.
        Span<byte> m = b.Slice(l4Off, l4Len);
        m[0] = reply ? IcmpMessage.EchoReply : IcmpMessage.EchoRequest;
        m[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(m[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(m[4..], identifier);
        BinaryPrimitives.WriteUInt16BigEndian(m[6..], sequence);
        payload.CopyTo(m[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(m[2..], InternetChecksum.Compute(m));
        int o = Ethernet(b, dstMac, srcMac, EtherType.Ipv4, vlan);
        Ipv4Packet.WriteHeader(b[o..], Ipv4Packet.MinHeaderLength + l4Len, IpProtocol.Icmp, srcIp, dstIp, sequence);
        return l4Off + l4Len;
    }

    public static int Udp(Span<byte> b, MacAddress dstMac, MacAddress srcMac, uint srcIp, uint dstIp,
        ushort srcPort, ushort dstPort, ReadOnlySpan<byte> payload, ushort? vlan = null)
    {
        int eth = vlan is null ? EthernetFrame.HeaderLength : EthernetFrame.HeaderLength + VlanTag.Length;
        int l4Off = eth + Ipv4Packet.MinHeaderLength;
        int len = UdpDatagram.HeaderLength + payload.Length;
        Span<byte> u = b.Slice(l4Off, len);
        UdpDatagram.WriteHeader(u, srcPort, dstPort, len);
        payload.CopyTo(u[8..]);
        ushort c = InternetChecksum.Ipv4Transport(srcIp, dstIp, IpProtocol.Udp, u);
        BinaryPrimitives.WriteUInt16BigEndian(u[6..], c == 0 ? (ushort)0xFFFF : c);
        int o = Ethernet(b, dstMac, srcMac, EtherType.Ipv4, vlan);
        Ipv4Packet.WriteHeader(b[o..], Ipv4Packet.MinHeaderLength + len, IpProtocol.Udp, srcIp, dstIp);
        return l4Off + len;
    }

    public static int Tcp(Span<byte> b, MacAddress dstMac, MacAddress srcMac, uint srcIp, uint dstIp,
        ushort srcPort, ushort dstPort, uint seq, uint ack, byte flags, ReadOnlySpan<byte> payload, ushort? vlan = null)
    {
        int eth = vlan is null ? EthernetFrame.HeaderLength : EthernetFrame.HeaderLength + VlanTag.Length;
        int l4Off = eth + Ipv4Packet.MinHeaderLength;
        int len = TcpSegment.MinHeaderLength + payload.Length;
        Span<byte> t = b.Slice(l4Off, len);
        TcpSegment.WriteHeader(t, srcPort, dstPort, seq, ack, flags, 65535);
        payload.CopyTo(t[TcpSegment.MinHeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(t[16..], InternetChecksum.Ipv4Transport(srcIp, dstIp, IpProtocol.Tcp, t));
        int o = Ethernet(b, dstMac, srcMac, EtherType.Ipv4, vlan);
        Ipv4Packet.WriteHeader(b[o..], Ipv4Packet.MinHeaderLength + len, IpProtocol.Tcp, srcIp, dstIp);
        return l4Off + len;
    }

    /// <summary>IPv6 UDP datagram (for parser coverage of the second address family).</summary>
    public static int Ipv6Udp(Span<byte> b, MacAddress dstMac, MacAddress srcMac, UInt128 srcIp, UInt128 dstIp,
        ushort srcPort, ushort dstPort, ReadOnlySpan<byte> payload, ushort? vlan = null)
    {
        int o = Ethernet(b, dstMac, srcMac, EtherType.Ipv6, vlan);
        int len = UdpDatagram.HeaderLength + payload.Length;
        Span<byte> u = b.Slice(o + Ipv6Packet.HeaderLength, len);
        UdpDatagram.WriteHeader(u, srcPort, dstPort, len);
        payload.CopyTo(u[8..]);
        ushort c = InternetChecksum.Ipv6Transport(srcIp, dstIp, IpProtocol.Udp, u);
        BinaryPrimitives.WriteUInt16BigEndian(u[6..], c == 0 ? (ushort)0xFFFF : c);
        Ipv6Packet.WriteHeader(b[o..], len, IpProtocol.Udp, srcIp, dstIp);
        return o + Ipv6Packet.HeaderLength + len;
    }

    /// <summary>
    /// A complete VXLAN-in-UDP/IPv4/Ethernet frame around <paramref name="inner"/>, as it appears on the
    /// wire between two VTEPs (for pcap captures of the underlay and for tests).
    /// </summary>
    public static int VxlanFrame(Span<byte> b, MacAddress outerDst, MacAddress outerSrc, uint srcIp, uint dstIp,
        ushort srcPort, uint vni, ReadOnlySpan<byte> inner, ushort dstPort = VxlanHeader.DefaultPort)
    {
        int o = Ethernet(b, outerDst, outerSrc, EtherType.Ipv4);
        int udpLen = UdpDatagram.HeaderLength + VxlanHeader.Length + inner.Length;
        Ipv4Packet.WriteHeader(b[o..], Ipv4Packet.MinHeaderLength + udpLen, IpProtocol.Udp, srcIp, dstIp);
        Span<byte> u = b.Slice(o + Ipv4Packet.MinHeaderLength, udpLen);
        // RFC 7348: the UDP checksum SHOULD be zero on transmit over IPv4.
        UdpDatagram.WriteHeader(u, srcPort, dstPort, udpLen, 0);
        VxlanHeader.Write(u[8..], vni);
        inner.CopyTo(u[(8 + VxlanHeader.Length)..]);
        return o + Ipv4Packet.MinHeaderLength + udpLen;
    }

    /// <summary>A VXLAN source port derived from the inner flow (RFC 7348: entropy in the dynamic range).</summary>
    public static ushort VxlanSourcePort(int flowHash) => (ushort)(49152 + ((uint)flowHash % 16384));
}
