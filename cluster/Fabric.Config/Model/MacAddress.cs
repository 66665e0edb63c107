using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Fabric.Config.Model;

/// <summary>
/// An Ethernet MAC address for a VM NIC: six hex octets separated by ':' ("52:54:00:0a:00:0b"),
/// unicast (the multicast bit of the first octet clear) and not all zeros. Stored lower-case so that
/// comparisons and duplicate checks ignore case.
/// </summary>
public readonly record struct MacAddress
{
    public const string Expected = "a unicast MAC address such as \"52:54:00:0a:00:0b\"";

    private MacAddress(string text) => Text = text;

    /// <summary>Lower-case "xx:xx:xx:xx:xx:xx".</summary>
    public string Text { get; }

    public static bool TryParse(string text, out MacAddress value, [NotNullWhen(false)] out string? error)
    {
        value = default;
        var parts = text.Split(':');
        if (parts.Length != 6 || parts.Any(part => part.Length != 2 || !part.All(char.IsAsciiHexDigit)))
        {
            error = $"expected {Expected} (six hex octets separated by ':'), found \"{text}\"";
            return false;
        }

        var first = byte.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        if ((first & 1) != 0)
        {
            error = $"\"{text}\" is a multicast MAC address (the lowest bit of the first octet is set); a NIC needs a unicast address such as 52:54:00:...";
            return false;
        }

        if (parts.All(part => part == "00"))
        {
            error = $"\"{text}\" is the all-zero MAC address";
            return false;
        }

        value = new MacAddress(text.ToLowerInvariant());
        error = null;
        return true;
    }

    public override string ToString() => Text;
}
