namespace Fabric.BlockBackend.Nbd;

/// <summary>Where and how an <see cref="NbdServer"/> listens.</summary>
public sealed record NbdServerOptions
{
    /// <summary>TCP address to listen on (e.g. "127.0.0.1"); null for no TCP listener.</summary>
    public string? TcpHost { get; init; }

    /// <summary>TCP port; 0 picks a free one (see <see cref="NbdServer.TcpPort"/>).</summary>
    public int TcpPort { get; init; }

    /// <summary>Unix socket path; null for no unix listener. A stale socket file is replaced.</summary>
    public string? UnixSocketPath { get; init; }

    /// <summary>Largest READ/WRITE payload accepted (advertised as the maximum block size).</summary>
    public int MaxPayloadBytes { get; init; } = 32 << 20;

    /// <summary>Requests one connection may have in flight before the server stops reading more.</summary>
    public int MaxInFlightPerConnection { get; init; } = 64;

    /// <summary>Serve every export read-only.</summary>
    public bool ReadOnly { get; init; }
}
