using System.Buffers.Binary;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Tests.Packets;

public class SoftwareOffloadTests
{
    private static readonly MacAddress A = MacAddress.Parse("52:54:00:00:00:0a"), B = MacAddress.Parse("52:54:00:00:00:0b");

    private struct Collected
    {
        public List<byte[]> Segments;
    }

    [Theory]
    [InlineData(false, 20000, 1448)]
    [InlineData(true, 5000, 1000)]
    [InlineData(false, 100, 1448)]
    public void Tcp_super_frame_is_cut_into_valid_segments(bool vlan, int payloadBytes, int mss)
    {
        var payload = new byte[payloadBytes];
        new Random(payloadBytes).NextBytes(payload);
        var b = new byte[payloadBytes + 100];
        int n = PacketBuilder.Tcp(b, B, A, 0x0A000001, 0x0A000002, 40000, 5201, 1000, 77, TcpSegment.Ack | TcpSegment.Psh | TcpSegment.Fin, payload, vlan ? (ushort)5 : null);
        var frame = b[..n];
        var o = new OffloadInfo(OffloadInfo.FlagNeedsCsum, OffloadInfo.GsoTcpV4, 0, (ushort)mss, 0, 0);
        var state = new Collected { Segments = new() };
        int count = SoftwareOffload.Segment(frame, o, new byte[70000], ref state, static (ref Collected s, ReadOnlySpan<byte> seg) => s.Segments.Add(seg.ToArray()));
        Assert.Equal((payloadBytes + mss - 1) / mss, count);
        var reassembled = new List<byte>();
        for (int i = 0; i < count; i++)
        {
            var seg = state.Segments[i];
            Assert.Equal(FrameError.None, FrameParser.Parse(seg.ToArray(), 0, out var k, out var l));
            Assert.Equal(FrameError.None, Ipv4Packet.TryParse(seg.AsSpan(l.L3Offset), out var ip));
            Assert.True(ip.IsHeaderChecksumValid);
            Assert.Equal(seg.Length - l.L3Offset, ip.TotalLength);
            Assert.Equal(0, InternetChecksum.Ipv4Transport(ip.Source, ip.Destination, IpProtocol.Tcp, ip.Payload));
            Assert.Equal(FrameError.None, TcpSegment.TryParse(ip.Payload, out var tcp));
            Assert.Equal(1000u + (uint)(i * mss), tcp.SequenceNumber);
            bool last = i == count - 1;
            Assert.Equal(last, (tcp.Flags & TcpSegment.Fin) != 0);
            Assert.Equal(last, (tcp.Flags & TcpSegment.Psh) != 0);
            Assert.True((tcp.Flags & TcpSegment.Ack) != 0);
            reassembled.AddRange(tcp.Payload.ToArray());
        }
        Assert.Equal(payload, reassembled.ToArray());
    }

    [Fact]
    public void Partial_checksum_is_completed()
    {
        var b = new byte[200];
        int n = PacketBuilder.Udp(b, B, A, 0x0A000001, 0x0A000002, 1, 2, new byte[50]);
        var frame = b[..n];
        int l4 = 14 + 20;
        // What a sender with checksum offload leaves: the pseudo-header sum, not complemented.
        ulong pseudo = 0x0A000001UL + 0x0A000002UL + IpProtocol.Udp + (uint)(n - l4);
        ushort partial = (ushort)~InternetChecksum.Finish(pseudo);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(l4 + 6), partial);
        Assert.True(SoftwareOffload.CompleteChecksum(frame, new OffloadInfo(OffloadInfo.FlagNeedsCsum, 0, 0, 0, (ushort)l4, 6)));
        Assert.Equal(0, InternetChecksum.Ipv4Transport(0x0A000001, 0x0A000002, IpProtocol.Udp, frame.AsSpan(l4)));
    }
}
