using Fabric.Switch.Packets;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Switch.Tests.Packets;

public class CodecTests
{
    private static readonly MacAddress A = MacAddress.Parse("52:54:00:00:00:0a");
    private static readonly MacAddress B = MacAddress.Parse("52:54:00:00:00:0b");
    private static readonly uint IpA = IpBits.ParseIpv4("10.0.0.10");
    private static readonly uint IpB = IpBits.ParseIpv4("10.0.0.11");

    [Fact]
    public void Mac_parse_format_round_trip()
    {
        var m = MacAddress.Parse("52:54:00:AB:cd:0F");
        Assert.Equal("52:54:00:ab:cd:0f", m.ToString());
        Assert.False(m.IsMulticast);
        Assert.True(MacAddress.Broadcast.IsBroadcast && MacAddress.Broadcast.IsMulticast);
        Assert.True(MacAddress.Parse("01:00:5e:00:00:01").IsMulticast);
        Assert.False(MacAddress.TryParse("52:54:00:ab:cd", out _));
        Assert.False(MacAddress.TryParse("52:54:00:ab:cd:zz", out _));
        Span<byte> b = stackalloc byte[6];
        m.Write(b);
        Assert.Equal(m, MacAddress.Read(b));
    }

    [Fact]
    public void Arp_request_round_trip()
    {
        var buf = new byte[64];
        int n = PacketBuilder.ArpRequest(buf, A, IpA, IpB, vlan: 100);
        Assert.Equal(14 + 4 + 28, n);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 3, out var key, out var layout));
        Assert.Equal(3, key.InPort);
        Assert.True(key.HasVlan);
        Assert.Equal(100, key.VlanId);
        Assert.Equal(EtherType.Arp, key.EthType);
        Assert.Equal(ArpPacket.OpRequest, key.IpProto);
        Assert.Equal(IpBits.FromIpv4(IpA), key.IpSrc);
        Assert.Equal(IpBits.FromIpv4(IpB), key.IpDst);
        Assert.Equal(A, key.Source);
        Assert.True(key.Destination.IsBroadcast);
        Assert.Equal(FlowKeyFlags.None, key.Flags);
        Assert.Equal(18, layout.L3Offset);
        Assert.Equal(FrameError.None, ArpPacket.TryParse(buf.AsSpan(18, 28), out var arp));
        Assert.Equal(A, arp.SenderMac);
        Assert.Equal(IpB, arp.TargetIp);
    }

    [Fact]
    public void Arp_with_foreign_sender_hardware_address_is_flagged()
    {
        var buf = new byte[64];
        int n = PacketBuilder.Arp(buf, ArpPacket.OpReply, B, A, IpA, B, IpB);
        new EthernetFrame_Source(buf).Set(B);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 1, out var key, out _));
        Assert.True((key.Flags & FlowKeyFlags.ArpShaMismatch) != 0);
    }

    private readonly ref struct EthernetFrame_Source(Span<byte> b)
    {
        private readonly Span<byte> _b = b;
        public void Set(MacAddress m) => m.Write(_b[6..]);
    }

    [Fact]
    public void Rarp_announce_as_qemu_sends_it()
    {
        var buf = new byte[64];
        int n = PacketBuilder.RarpAnnounce(buf, A);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 1, out var key, out _));
        Assert.Equal(EtherType.Rarp, key.EthType);
        Assert.Equal(ArpPacket.OpReverseRequest, key.IpProto);
        Assert.Equal(A, key.Source);
    }

    [Fact]
    public void Icmp_echo_round_trip_with_valid_checksums()
    {
        var buf = new byte[200];
        int n = PacketBuilder.IcmpEcho(buf, B, A, IpA, IpB, 0x1234, 7, "hello, fabric"u8);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 1, out var key, out var layout));
        Assert.Equal(IpProtocol.Icmp, key.IpProto);
        Assert.Equal(IcmpMessage.EchoRequest, key.L4Src);
        Assert.Equal(0, key.L4Dst);
        Assert.Equal(FrameError.None, Ipv4Packet.TryParse(buf.AsSpan(layout.L3Offset, n - layout.L3Offset), out var ip));
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.Equal(FrameError.None, IcmpMessage.TryParse(ip.Payload, out var icmp));
        Assert.Equal(0, InternetChecksum.Compute(icmp.Bytes));
        Assert.Equal(0x1234, icmp.Identifier);
        Assert.Equal(7, icmp.Sequence);
        Assert.Equal("hello, fabric"u8.ToArray(), icmp.Body.ToArray());
    }

    [Fact]
    public void Udp_tcp_and_ipv6_round_trip()
    {
        var buf = new byte[300];
        int n = PacketBuilder.Udp(buf, B, A, IpA, IpB, 5000, 53, new byte[33]);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 1, out var key, out var layout));
        Assert.Equal((IpProtocol.Udp, 5000, 53), (key.IpProto, (int)key.L4Src, (int)key.L4Dst));
        Assert.Equal(FrameError.None, UdpDatagram.TryParse(buf.AsSpan(layout.L4Offset, n - layout.L4Offset), out var udp));
        Assert.Equal(0, InternetChecksum.Ipv4Transport(IpA, IpB, IpProtocol.Udp, udp.Bytes));

        n = PacketBuilder.Tcp(buf, B, A, IpA, IpB, 40000, 23, 1, 0, TcpSegment.Syn, default, vlan: 7);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 1, out key, out layout));
        Assert.Equal((IpProtocol.Tcp, 40000, 23, 7), (key.IpProto, (int)key.L4Src, (int)key.L4Dst, (int)key.VlanId));
        Assert.Equal(FrameError.None, TcpSegment.TryParse(buf.AsSpan(layout.L4Offset, n - layout.L4Offset), out var tcp));
        Assert.Equal(0, InternetChecksum.Ipv4Transport(IpA, IpB, IpProtocol.Tcp, tcp.Bytes));
        Assert.Equal(TcpSegment.Syn, tcp.Flags);

        IpBits.TryParse("fd00::1", out var s6);
        IpBits.TryParse("fd00::2", out var d6);
        n = PacketBuilder.Ipv6Udp(buf, B, A, s6, d6, 1, 2, new byte[5]);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 1, out key, out layout));
        Assert.Equal((s6, d6, IpProtocol.Udp, 1, 2), (key.IpSrc, key.IpDst, key.IpProto, (int)key.L4Src, (int)key.L4Dst));
        Assert.Equal("fd00::1", IpBits.Format(key.IpSrc));
        Assert.Equal(0, InternetChecksum.Ipv6Transport(s6, d6, IpProtocol.Udp, buf.AsSpan(layout.L4Offset, n - layout.L4Offset)));
    }

    [Fact]
    public void Vxlan_round_trip()
    {
        var inner = new byte[100];
        int innerLen = PacketBuilder.IcmpEcho(inner, B, A, IpA, IpB, 1, 1, new byte[8]);
        var buf = new byte[300];
        int n = PacketBuilder.VxlanFrame(buf, MacAddress.Parse("02:00:00:00:00:02"), MacAddress.Parse("02:00:00:00:00:01"),
            IpBits.ParseIpv4("172.31.0.1"), IpBits.ParseIpv4("172.31.0.2"), 50000, 5001, inner.AsSpan(0, innerLen));
        Assert.Equal(innerLen + VxlanHeader.Ipv4Overhead, n);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 1, out var outer, out var layout));
        Assert.Equal(VxlanHeader.DefaultPort, outer.L4Dst);
        int vx = layout.L4Offset + UdpDatagram.HeaderLength;
        Assert.Equal(FrameError.None, FrameParser.ParseVxlan(buf.AsSpan(vx, n - vx), 9, out var key, out var innerLayout));
        Assert.Equal(5001u, key.Vni);
        Assert.Equal(FlowKeyFlags.Tunnel, key.Flags);
        Assert.Equal(A, key.Source);
        Assert.Equal(IpProtocol.Icmp, key.IpProto);
        Assert.Equal(VxlanHeader.Length, innerLayout.EthOffset);

        buf[vx] = 0; // I flag cleared: no valid VNI
        Assert.Equal(FrameError.VxlanNoVni, FrameParser.ParseVxlan(buf.AsSpan(vx, n - vx), 9, out _, out _));
    }

    [Fact]
    public void Ethernet_padding_is_not_payload_and_truncation_is_an_error()
    {
        var buf = new byte[60]; // minimum Ethernet frame, padded
        int n = PacketBuilder.Udp(buf, B, A, IpA, IpB, 1, 2, new byte[2]);
        Assert.True(n < 60);
        Assert.Equal(FrameError.None, FrameParser.Parse(buf, 1, out _, out var layout));
        Assert.Equal(FrameError.None, Ipv4Packet.TryParse(buf.AsSpan(layout.L3Offset), out var ip));
        Assert.Equal(n - 14, ip.Bytes.Length);
        Assert.Equal(FrameError.Ipv4Truncated, FrameParser.Parse(buf.AsSpan(0, n - 1), 1, out _, out _));
        Assert.Equal(FrameError.EthernetTruncated, FrameParser.Parse(buf.AsSpan(0, 13), 1, out _, out _));
    }

    [Fact]
    public void Malformed_headers_are_reported_by_reason()
    {
        var buf = new byte[100];
        int n = PacketBuilder.Tcp(buf, B, A, IpA, IpB, 1, 2, 0, 0, 0, default);
        buf[14 + 20 + 12] = 0x20; // data offset 2 words
        Assert.Equal(FrameError.TcpBadHeader, FrameParser.Parse(buf.AsSpan(0, n), 1, out _, out _));
        n = PacketBuilder.Udp(buf, B, A, IpA, IpB, 1, 2, new byte[4]);
        buf[14 + 20 + 5] = 200; // UDP length beyond the datagram
        Assert.Equal(FrameError.UdpBadLength, FrameParser.Parse(buf.AsSpan(0, n), 1, out _, out _));
        n = PacketBuilder.Udp(buf, B, A, IpA, IpB, 1, 2, new byte[4]);
        buf[14] = 0x44; // IHL 4
        Assert.Equal(FrameError.Ipv4BadHeader, FrameParser.Parse(buf.AsSpan(0, n), 1, out _, out _));
        n = PacketBuilder.ArpRequest(buf, A, IpA, IpB);
        buf[14 + 5] = 16; // protocol address length 16
        Assert.Equal(FrameError.ArpUnsupported, FrameParser.Parse(buf.AsSpan(0, n), 1, out _, out _));
    }

    [Fact]
    public void Later_fragments_have_no_l4_fields()
    {
        var buf = new byte[100];
        int n = PacketBuilder.Udp(buf, B, A, IpA, IpB, 1, 2, new byte[4]);
        buf[14 + 6] = 0x00; buf[14 + 7] = 0x10; // fragment offset 16 (x8 bytes)
        Assert.Equal(FrameError.None, FrameParser.Parse(buf.AsSpan(0, n), 1, out var key, out var layout));
        Assert.Equal(FlowKeyFlags.LaterFragment, key.Flags);
        Assert.Equal(0, key.L4Src);
        Assert.Equal(-1, layout.L4Offset);
    }

    [Fact]
    public void Checksum_of_odd_length_matches_reference()
    {
        // RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2 -> checksum 220d.
        Assert.Equal(0x220d, InternetChecksum.Compute([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]));
        var rnd = new Random(1);
        for (int len = 0; len < 40; len++)
        {
            var d = new byte[len];
            rnd.NextBytes(d);
            Assert.Equal(ReferenceChecksum(d), InternetChecksum.Compute(d));
        }
    }

    private static ushort ReferenceChecksum(byte[] d)
    {
        uint s = 0;
        for (int i = 0; i < d.Length; i += 2) s += (uint)(d[i] << 8 | (i + 1 < d.Length ? d[i + 1] : 0));
        while (s >> 16 != 0) s = (s & 0xFFFF) + (s >> 16);
        return (ushort)~s;
    }

    [Fact]
    public void Fuzz_random_bytes_never_throw()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            var copy = (byte[])bytes.Clone();
            var e1 = FrameParser.Parse(copy, 1, out _, out _);
            var e2 = FrameParser.ParseVxlan(copy, 1, out _, out _);
            return Enum.IsDefined(e1) && Enum.IsDefined(e2);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Fuzz_every_truncation_and_bit_flip_of_valid_frames_is_parsed_or_reported()
    {
        var frames = SampleFrames();
        var gen = from f in Gen.Elements(frames.ToArray())
                  from cut in Gen.Choose(0, f.Length)
                  from flips in Gen.ListOf(Gen.Choose(0, f.Length * 8 - 1))
                  select (f, cut, flips.Take(4).ToArray());
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (frame, cut, flips) = t;
            var b = frame.AsSpan(0, cut).ToArray();
            foreach (var bit in flips) if (bit / 8 < b.Length) b[bit / 8] ^= (byte)(1 << (bit % 8));
            var err = FrameParser.Parse(b, 1, out var key, out var layout);
            if (err == FrameError.None)
            {
                // A frame reported well-formed has its layers inside the buffer.
                return layout.L3Offset <= b.Length && layout.L4Offset <= b.Length && key.InPort == 1;
            }
            return Enum.IsDefined(err);
        }).QuickCheckThrowOnFailure();
        // A truncated valid frame is an error, never a success with made-up fields.
        foreach (var f in frames)
        {
            Assert.Equal(FrameError.None, FrameParser.Parse(f.ToArray(), 1, out _, out _));
            for (int cut = 0; cut < f.Length; cut++)
                Assert.NotEqual(FrameError.None, FrameParser.Parse(f.AsSpan(0, cut).ToArray(), 1, out _, out _));
        }
    }

    internal static List<byte[]> SampleFrames()
    {
        var list = new List<byte[]>();
        void Add(Func<byte[], int> build) { var b = new byte[400]; int n = build(b); list.Add(b[..n]); }
        Add(b => PacketBuilder.ArpRequest(b, A, IpA, IpB));
        Add(b => PacketBuilder.ArpRequest(b, A, IpA, IpB, 42));
        Add(b => PacketBuilder.IcmpEcho(b, B, A, IpA, IpB, 1, 2, new byte[16]));
        Add(b => PacketBuilder.Udp(b, B, A, IpA, IpB, 1, 2, new byte[10], 5));
        Add(b => PacketBuilder.Tcp(b, B, A, IpA, IpB, 1, 2, 3, 4, TcpSegment.Ack, new byte[7]));
        IpBits.TryParse("fe80::1", out var s6);
        Add(b => PacketBuilder.Ipv6Udp(b, B, A, s6, s6 + 1, 1, 2, new byte[3]));
        return list;
    }
}
