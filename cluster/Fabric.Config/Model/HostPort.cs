using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace Fabric.Config.Model;

/// <summary>
/// A "host:port" endpoint. The host is an IPv4 address, a bracketed IPv6 address ("[::1]:7000") or a
/// DNS name; the port is 1-65535.
/// </summary>
public readonly record struct HostPort(string Host, int Port)
{
    public const string Expected = "\"host:port\" such as \"127.0.0.1:7000\" or \"[::1]:7000\"";

    public static bool TryParse(string text, out HostPort value, [NotNullWhen(false)] out string? error)
    {
        value = default;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            error = $"expected {Expected}, found \"{text}\"";
            return false;
        }

        var host = text[..colon];
        var portText = text[(colon + 1)..];
        if (host.StartsWith('['))
        {
            if (!host.EndsWith(']') || !IPAddress.TryParse(host[1..^1], out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                error = $"\"{text}\": '{host}' is not a bracketed IPv6 address";
                return false;
            }

            host = host[1..^1];
        }
        else if (host.Contains(':'))
        {
            error = $"\"{text}\": write an IPv6 host in brackets, e.g. \"[::1]:7000\"";
            return false;
        }
        else if (!IsValidHost(host))
        {
            error = $"\"{text}\": '{host}' is neither an IPv4 address nor a host name";
            return false;
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            error = $"\"{text}\": port '{portText}' is not a number from 1 to 65535";
            return false;
        }

        value = new HostPort(host, port);
        error = null;
        return true;
    }

    /// <summary>The host as an IP address, when it is one.</summary>
    public IPAddress? Address => IPAddress.TryParse(Host, out var address) ? address : null;

    private static bool IsValidHost(string host)
    {
        // Dotted numbers must be a real IPv4 address ("127.0.0.300" is a typo, not a host name).
        if (host.All(c => char.IsAsciiDigit(c) || c == '.'))
        {
            return host.Count(c => c == '.') == 3 && IPAddress.TryParse(host, out _);
        }

        return Uri.CheckHostName(host) == UriHostNameType.Dns;
    }

    public override string ToString() =>
        Host.Contains(':') ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";
}
