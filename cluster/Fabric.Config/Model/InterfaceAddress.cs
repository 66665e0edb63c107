using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace Fabric.Config.Model;

/// <summary>An IPv4 address with the prefix length of its network, as on an interface: "10.10.0.11/24".</summary>
public readonly record struct InterfaceAddress(IPAddress Address, int PrefixLength)
{
    public const string Expected = "an IPv4 address with prefix length such as \"10.10.0.11/24\"";

    /// <summary>The network the address belongs to ("10.10.0.0/24").</summary>
    public IPNetwork Network => new(Ipv4.Mask(Address, PrefixLength), PrefixLength);

    public static bool TryParse(string text, out InterfaceAddress value, [NotNullWhen(false)] out string? error)
    {
        value = default;
        var slash = text.IndexOf('/');
        if (slash < 0)
        {
            error = $"expected {Expected}, found \"{text}\" (the prefix length is missing)";
            return false;
        }

        if (!Ipv4.TryParseAddress(text[..slash], out var address)
            || !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var prefix)
            || prefix is < 1 or > 32)
        {
            error = $"expected {Expected}, found \"{text}\"";
            return false;
        }

        value = new InterfaceAddress(address, prefix);
        error = null;
        return true;
    }

    public override string ToString() => $"{Address}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";
}
