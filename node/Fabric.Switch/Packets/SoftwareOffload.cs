// What a NIC would do for an offloaded frame, done in software for ports that cannot take offload state
// (QEMU stream sockets, VXLAN datagrams): finish a partial checksum, or cut a GSO super-frame into
// MTU-sized segments (TCP over IPv4/IPv6, UDP_L4) with their headers and checksums fixed up. Writes into a
// caller's buffer, one segment at a time, so nothing is allocated.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public static class SoftwareOffload
{
    /// <summary>Completes the checksum the sender left partial (the field holds the pseudo-header sum).</summary>
    public static bool CompleteChecksum(Span<byte> frame, in OffloadInfo o)
    {
        int start = o.CsumStart, field = o.CsumStart + o.CsumOffset;
        if (start >= frame.Length || field + 2 > frame.Length) return false;
        ushort c = InternetChecksum.Compute(frame[start..]);
        // UDP sends 0xFFFF for a computed 0 (0 means "no checksum"); for TCP both encode the same value.
        BinaryPrimitives.WriteUInt16BigEndian(frame[field..], c == 0 ? (ushort)0xFFFF : c);
        return true;
    }

    /// <summary>
    /// Segments a GSO frame. For each segment, writes it to <paramref name="scratch"/> and calls
    /// <paramref name="emit"/> with its length. Returns the number of segments, or -1 when the frame is
    /// not one this code can cut (the caller drops and counts it).
    /// </summary>
    public static int Segment<TState>(ReadOnlySpan<byte> frame, in OffloadInfo o, Span<byte> scratch, ref TState state, SegmentSink<TState> emit)
        where TState : allows ref struct
    {
        byte gso = (byte)(o.GsoType & 0x7F);
        if (o.GsoSize == 0) return -1;
        // Find the headers ourselves: hdr_len from the sender is only a hint.
        int l3 = EthernetFrame.HeaderLength;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        if (type == EtherType.Vlan)
        {
            l3 += VlanTag.Length;
            type = BinaryPrimitives.ReadUInt16BigEndian(frame[16..]);
        }
        bool v4 = type == EtherType.Ipv4;
        if (!v4 && type != EtherType.Ipv6) return -1;
        int l4;
        byte proto;
        if (v4)
        {
            if (frame.Length < l3 + 20) return -1;
            l4 = l3 + (frame[l3] & 0x0F) * 4;
            proto = frame[l3 + 9];
        }
        else
        {
            if (frame.Length < l3 + 40) return -1;
            l4 = l3 + 40;
            proto = frame[l3 + 6]; // extension headers with GSO are not something senders produce here
        }
        bool tcp = gso is OffloadInfo.GsoTcpV4 or OffloadInfo.GsoTcpV6;
        if (tcp && proto != IpProtocol.Tcp) return -1;
        if (gso == OffloadInfo.GsoUdpL4 && proto != IpProtocol.Udp) return -1;
        if (!tcp && gso != OffloadInfo.GsoUdpL4) return -1; // UFO (IP fragmentation) is not supported
        if (frame.Length < l4 + (tcp ? 20 : 8)) return -1;
        int hdr = tcp ? l4 + (frame[l4 + 12] >> 4) * 4 : l4 + 8;
        if (hdr > frame.Length || hdr + o.GsoSize > scratch.Length) return -1;
        var payload = frame[hdr..];
        int count = 0;
        uint seq = tcp ? BinaryPrimitives.ReadUInt32BigEndian(frame[(l4 + 4)..]) : 0;
        ushort id = v4 ? BinaryPrimitives.ReadUInt16BigEndian(frame[(l3 + 4)..]) : (ushort)0;
        byte flags = tcp ? frame[l4 + 13] : (byte)0;
        for (int off = 0; off < payload.Length || (off == 0 && payload.Length == 0); off += o.GsoSize)
        {
            int n = Math.Min(o.GsoSize, payload.Length - off);
            bool last = off + n >= payload.Length;
            frame[..hdr].CopyTo(scratch);
            payload.Slice(off, n).CopyTo(scratch[hdr..]);
            int len = hdr + n;
            var s = scratch[..len];
            if (v4)
            {
                BinaryPrimitives.WriteUInt16BigEndian(s[(l3 + 2)..], (ushort)(len - l3));
                BinaryPrimitives.WriteUInt16BigEndian(s[(l3 + 4)..], (ushort)(id + count));
                new Ipv4PacketHeader(s[l3..]).UpdateChecksum(l4 - l3);
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(s[(l3 + 4)..], (ushort)(len - l3 - 40));
            }
            var seg = s[l4..];
            if (tcp)
            {
                BinaryPrimitives.WriteUInt32BigEndian(seg[4..], seq + (uint)off);
                // FIN and PSH belong to the last segment, CWR to the first (RFC 3168 / Linux tcp_gso_segment).
                byte f = flags;
                if (!last) f &= unchecked((byte)~(TcpSegment.Fin | TcpSegment.Psh));
                if (count > 0) f &= 0x7F;
                seg[13] = f;
                BinaryPrimitives.WriteUInt16BigEndian(seg[16..], 0);
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(seg[4..], (ushort)seg.Length);
                BinaryPrimitives.WriteUInt16BigEndian(seg[6..], 0);
            }
            ushort c = v4
                ? InternetChecksum.Ipv4Transport(BinaryPrimitives.ReadUInt32BigEndian(s[(l3 + 12)..]), BinaryPrimitives.ReadUInt32BigEndian(s[(l3 + 16)..]), proto, seg)
                : InternetChecksum.Ipv6Transport(IpBits.ReadIpv6(s[(l3 + 8)..]), IpBits.ReadIpv6(s[(l3 + 24)..]), proto, seg);
            if (!tcp && c == 0) c = 0xFFFF;
            BinaryPrimitives.WriteUInt16BigEndian(seg[(tcp ? 16 : 6)..], c);
            emit(ref state, s);
            count++;
            if (last) break;
        }
        return count;
    }

    private readonly ref struct Ipv4PacketHeader(Span<byte> b)
    {
        private readonly Span<byte> _b = b;
        public void UpdateChecksum(int headerLength)
        {
            BinaryPrimitives.WriteUInt16BigEndian(_b[10..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(_b[10..], InternetChecksum.Compute(_b[..headerLength]));
        }
    }
}

public delegate void SegmentSink<TState>(ref TState state, ReadOnlySpan<byte> segment) where TState : allows ref struct;
