using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Fabric.Config.Model;

/// <summary>An inclusive L4 port range: "23" (one port) or "8000-8080".</summary>
public readonly record struct PortRange(int Min, int Max)
{
    public const string Expected = "a port \"23\" or a range \"8000-8080\" (ports 1 to 65535)";

    public static bool TryParse(string text, out PortRange value, [NotNullWhen(false)] out string? error)
    {
        value = default;
        var dash = text.IndexOf('-');
        var minText = dash < 0 ? text : text[..dash];
        var maxText = dash < 0 ? text : text[(dash + 1)..];
        if (!TryPort(minText.Trim(), out var min) || !TryPort(maxText.Trim(), out var max))
        {
            error = $"expected {Expected}, found \"{text}\"";
            return false;
        }

        if (min > max)
        {
            error = $"port range \"{text}\" is backwards; write \"{max}-{min}\"";
            return false;
        }

        value = new PortRange(min, max);
        error = null;
        return true;
    }

    private static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;

    public override string ToString() =>
        Min == Max ? Min.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{Min}-{Max}");
}
