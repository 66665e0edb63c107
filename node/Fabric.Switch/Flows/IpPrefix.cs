// An address prefix over the unified 128-bit address space (IPv4 as IPv4-mapped IPv6), for ACL CIDRs and
// flow matches. "10.0.0.0/24" becomes ::ffff:10.0.0.0/120.
using Fabric.Switch.Packets;

namespace Fabric.Switch.Flows;

public readonly record struct IpPrefix(UInt128 Value, int Length)
{
    public UInt128 Mask => Length == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - Length);

    public bool Contains(UInt128 address) => (address & Mask) == (Value & Mask);

    public static IpPrefix Host(UInt128 address) => new(address, 128);

    public static IpPrefix Ipv4Host(uint address) => new(IpBits.FromIpv4(address), 128);

    /// <summary>Parses "10.0.0.0/24", "10.0.0.5" (a host), "fd00::/64".</summary>
    public static bool TryParse(string? text, out IpPrefix prefix)
    {
        prefix = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var parts = text.Trim().Split('/');
        if (parts.Length > 2 || !IpBits.TryParse(parts[0], out var addr)) return false;
        bool v4 = IpBits.IsMappedIpv4(addr) && parts[0].Contains('.');
        int max = v4 ? 32 : 128;
        int len = max;
        if (parts.Length == 2 && (!int.TryParse(parts[1], out len) || len < 0 || len > max)) return false;
        prefix = new IpPrefix(addr, v4 ? 96 + len : len);
        prefix = prefix with { Value = addr & prefix.Mask };
        return true;
    }

    public override string ToString()
    {
        bool v4 = IpBits.IsMappedIpv4(Value) && Length >= 96;
        int len = v4 ? Length - 96 : Length;
        string a = IpBits.Format(Value);
        return (v4 && len == 32) || (!v4 && len == 128) ? a : $"{a}/{len}";
    }
}
