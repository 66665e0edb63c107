using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Fabric.Config.Model;

/// <summary>
/// Strict IPv4 text handling for config: exactly four decimal octets ("10.0.0.1"). IPAddress.TryParse
/// alone also accepts "10.1" and "0x0a000001", which in a config file are typos, not addresses.
/// </summary>
public static class Ipv4
{
    public static bool TryParseAddress(string text, [NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        var parts = text.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }

        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || !part.All(char.IsAsciiDigit)
                || (part.Length > 1 && part[0] == '0')
                || int.Parse(part, CultureInfo.InvariantCulture) > 255)
            {
                return false;
            }
        }

        address = IPAddress.Parse(text);
        return address.AddressFamily == AddressFamily.InterNetwork;
    }

    /// <summary>Parses a network in CIDR form whose host bits are zero ("10.20.0.0/24").</summary>
    public static bool TryParseNetwork(string text, out IPNetwork network, [NotNullWhen(false)] out string? error)
    {
        network = default;
        var slash = text.IndexOf('/');
        if (slash < 0
            || !TryParseAddress(text[..slash], out var address)
            || !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var prefix)
            || prefix is < 0 or > 32)
        {
            error = $"expected an IPv4 network in CIDR form such as \"10.20.0.0/24\", found \"{text}\"";
            return false;
        }

        var masked = Mask(address, prefix);
        if (!masked.Equals(address))
        {
            error = $"\"{text}\" has host bits set; the network is \"{masked}/{prefix}\"";
            return false;
        }

        network = new IPNetwork(masked, prefix);
        error = null;
        return true;
    }

    public static uint ToUInt32(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        if (address.AddressFamily != AddressFamily.InterNetwork || !address.TryWriteBytes(bytes, out _))
        {
            throw new ArgumentException($"{address} is not an IPv4 address", nameof(address));
        }

        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    public static IPAddress FromUInt32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    public static IPAddress Mask(IPAddress address, int prefixLength) =>
        FromUInt32(ToUInt32(address) & MaskBits(prefixLength));

    /// <summary>The broadcast address of a network (all host bits set).</summary>
    public static IPAddress Broadcast(IPNetwork network) =>
        FromUInt32(ToUInt32(network.BaseAddress) | ~MaskBits(network.PrefixLength));

    private static uint MaskBits(int prefixLength) => prefixLength == 0 ? 0u : uint.MaxValue << (32 - prefixLength);
}
