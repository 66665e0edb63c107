using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Rpc.Server;

/// <summary>Where and how an <see cref="RpcServer"/> listens.</summary>
public sealed class RpcServerOptions
{
    public const int DefaultMaxReceiveMessageBytes = 4 * 1024 * 1024;

    /// <summary>
    /// gRPC endpoints, "host:port" ("127.0.0.1:7000", "[::1]:7000", "0.0.0.0:7000", "*:7000",
    /// "localhost:7000" = 127.0.0.1; port 0 = any free port, see <see cref="RpcServer.GrpcEndpoints"/>).
    /// HTTP/2 only: cleartext with prior knowledge (h2c), or TLS when <see cref="Certificate"/> is set.
    /// </summary>
    public List<string> Endpoints { get; } = [];

    /// <summary>
    /// Plain HTTP endpoints (HTTP/1.1, and HTTP/2 over TLS) for the GET routes of
    /// <see cref="RpcServerBuilder.MapGet"/>, e.g. /metrics for Prometheus and curl. Always cleartext.
    /// </summary>
    public List<string> HttpEndpoints { get; } = [];

    /// <summary>When set, the gRPC endpoints speak TLS (ALPN h2) with this certificate (it must have its private key).</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Largest request message accepted; larger ones end the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageBytes { get; set; } = DefaultMaxReceiveMessageBytes;

    /// <summary>Largest response message a handler may send; larger ones end the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageBytes { get; set; } = int.MaxValue;

    /// <summary>Concurrent calls per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).</summary>
    public int MaxConcurrentStreamsPerConnection { get; set; } = 1000;

    /// <summary>HTTP/2 flow-control windows: large, so one stream can carry messages up to the size limit without stalls.</summary>
    public int InitialConnectionWindowBytes { get; set; } = 16 * 1024 * 1024;

    public int InitialStreamWindowBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Server-side HTTP/2 keep-alive pings on idle connections (null = off, clients ping).</summary>
    public TimeSpan? KeepAlivePingDelay { get; set; }

    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long StopAsync lets running calls finish before they are cancelled.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Deadlines are measured with this clock.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (Endpoints.Count == 0 && HttpEndpoints.Count == 0)
        {
            throw new InvalidOperationException("RpcServerOptions has no endpoint: add one to Endpoints (e.g. \"127.0.0.1:7000\").");
        }

        if (MaxReceiveMessageBytes <= 0 || MaxSendMessageBytes <= 0)
        {
            throw new InvalidOperationException("Message size limits must be positive.");
        }
    }
}
