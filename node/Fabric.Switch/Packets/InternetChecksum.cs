// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.
// Builders use it; the forwarding path never verifies checksums (frames from TAP/AF_PACKET with
// offloads carry partial checksums the receiver completes).
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Fabric.Switch.Packets;

public static class InternetChecksum
{
    /// <summary>Checksum of <paramref name="data"/>; over a region that already holds its checksum it is 0.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(0, data));

    /// <summary>Adds the bytes to a running 64-bit sum (big-endian 16-bit words; an odd tail is padded with 0).</summary>
    public static ulong Add(ulong sum, ReadOnlySpan<byte> data)
    {
        // Sum 32-bit big-endian words into 64 bits; folding at the end gives the same ones' complement
        // result as 16-bit words (RFC 1071 section 2.(B), byte order independence).
        int i = 0;
        ReadOnlySpan<uint> words = MemoryMarshal.Cast<byte, uint>(data);
        foreach (uint w in words) sum += BinaryPrimitives.ReverseEndianness(w);
        i = words.Length * 4;
        if (i + 2 <= data.Length) { sum += (ulong)BinaryPrimitives.ReadUInt16BigEndian(data[i..]) << 16; i += 2; }
        if (i < data.Length) sum += (ulong)data[i] << (i % 4 == 0 ? 24 : 8);
        return sum;
    }

    public static ulong AddWord(ulong sum, uint word) => sum + word;

    public static ushort Finish(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        uint s = (uint)sum;
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        return (ushort)~s;
    }

    /// <summary>Checksum of an L4 segment over IPv4 with its pseudo-header (RFC 768/793).</summary>
    public static ushort Ipv4Transport(uint source, uint destination, byte protocol, ReadOnlySpan<byte> segment)
    {
        ulong sum = (ulong)source + destination + protocol + (uint)segment.Length;
        return Finish(Add(sum, segment));
    }

    /// <summary>Checksum of an L4 segment over IPv6 with its pseudo-header (RFC 8200 section 8.1).</summary>
    public static ushort Ipv6Transport(UInt128 source, UInt128 destination, byte protocol, ReadOnlySpan<byte> segment)
    {
        Span<byte> pseudo = stackalloc byte[40];
        IpBits.WriteIpv6(pseudo, source);
        IpBits.WriteIpv6(pseudo[16..], destination);
        BinaryPrimitives.WriteUInt32BigEndian(pseudo[32..], (uint)segment.Length);
        BinaryPrimitives.WriteUInt32BigEndian(pseudo[36..], protocol);
        return Finish(Add(Add(0, pseudo), segment));
    }
}
