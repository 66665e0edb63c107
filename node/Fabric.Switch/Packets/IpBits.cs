// IP addresses as integers. IPv4 addresses are uint (a.b.c.d = a<<24 | ...); flow keys and ACL prefixes
// hold every address as a UInt128, an IPv4 address in its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so one
// prefix match serves both families.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Fabric.Switch.Packets;

public static class IpBits
{
    private static readonly UInt128 MappedPrefix = (UInt128)0xFFFF << 32;

    public static UInt128 FromIpv4(uint v4) => MappedPrefix | v4;
    public static bool IsMappedIpv4(UInt128 v) => (v >> 32) == 0xFFFF;
    public static uint ToIpv4(UInt128 v) => (uint)v;

    public static UInt128 ReadIpv6(ReadOnlySpan<byte> sixteen) => BinaryPrimitives.ReadUInt128BigEndian(sixteen);
    public static void WriteIpv6(Span<byte> sixteen, UInt128 v) => BinaryPrimitives.WriteUInt128BigEndian(sixteen, v);

    public static uint ParseIpv4(string text) =>
        TryParseIpv4(text, out var v) ? v : throw new FormatException($"'{text}' is not an IPv4 address");

    public static bool TryParseIpv4(string? text, out uint v4)
    {
        v4 = 0;
        if (text is null || !IPAddress.TryParse(text, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork) return false;
        Span<byte> b = stackalloc byte[4];
        ip.TryWriteBytes(b, out _);
        v4 = BinaryPrimitives.ReadUInt32BigEndian(b);
        return true;
    }

    public static string FormatIpv4(uint v) => $"{v >> 24}.{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}.{v & 0xFF}";

    /// <summary>Formats a key address: dotted quad for IPv4-mapped values, RFC 5952 text otherwise.</summary>
    public static string Format(UInt128 v)
    {
        if (IsMappedIpv4(v)) return FormatIpv4(ToIpv4(v));
        Span<byte> b = stackalloc byte[16];
        WriteIpv6(b, v);
        return new IPAddress(b).ToString();
    }

    public static bool TryParse(string? text, out UInt128 value)
    {
        value = default;
        if (text is null || !IPAddress.TryParse(text, out var ip)) return false;
        Span<byte> b = stackalloc byte[16];
        if (ip.AddressFamily == AddressFamily.InterNetwork)
        {
            ip.TryWriteBytes(b, out _);
            value = FromIpv4(BinaryPrimitives.ReadUInt32BigEndian(b));
            return true;
        }
        ip.TryWriteBytes(b, out _);
        value = ReadIpv6(b);
        return true;
    }
}
