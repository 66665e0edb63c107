using System.Net;

namespace Fabric.Rpc.Server;

/// <summary>Parses listen addresses: "host:port" with an IP, "[v6]:port", "*:port", "localhost:port".</summary>
internal static class EndpointAddress
{
    public static IPEndPoint Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        string address = text.Trim();
        foreach (string scheme in new[] { "http://", "https://" })
        {
            if (address.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            {
                address = address[scheme.Length..].TrimEnd('/');
            }
        }

        int colon = address.LastIndexOf(':');
        if (colon > 0 && int.TryParse(address.AsSpan(colon + 1), out int port) && port is >= 0 and <= 65535)
        {
            string host = address[..colon];
            if (host is "*" or "0.0.0.0")
            {
                return new IPEndPoint(IPAddress.Any, port);
            }

            if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
            {
                return new IPEndPoint(IPAddress.Loopback, port);
            }
        }

        bool hasPort = address.StartsWith('[') ? address.Contains("]:", StringComparison.Ordinal) : address.Count(c => c == ':') == 1;
        if (hasPort && IPEndPoint.TryParse(address, out IPEndPoint? endpoint))
        {
            return endpoint;
        }

        throw new FormatException(
            $"'{text}' is not a listen address: use IP:port (\"127.0.0.1:7000\", \"[::1]:7000\", \"0.0.0.0:7000\", \"localhost:7000\").");
    }
}
