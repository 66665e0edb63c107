using System.Net.Security;

namespace Fabric.Rpc.Client;

/// <summary>How an <see cref="RpcChannel"/> connects and what it accepts.</summary>
public sealed class RpcChannelOptions
{
    /// <summary>Largest response message accepted; larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest request message sent; larger ones fail the call with RESOURCE_EXHAUSTED before sending.</summary>
    public int MaxSendMessageBytes { get; set; } = int.MaxValue;

    /// <summary>TCP (+TLS) connect timeout; a connection that cannot be made fails the call with UNAVAILABLE.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// HTTP/2 PING after this much silence on a connection with calls in flight; no answer within
    /// <see cref="KeepAlivePingTimeout"/> closes the connection (its calls fail with UNAVAILABLE). Servers
    /// police ping rates (etcd: at most one per 5 s), so keep this well above that.
    /// </summary>
    public TimeSpan KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Server certificate check for "https://" targets (null = the system's validation).</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }

    /// <summary>
    /// An HTTP handler to use instead of the channel's own SocketsHttpHandler (to share connections
    /// between channels, or for tests). The channel does not dispose it.
    /// </summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>Deadlines are measured with this clock.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
