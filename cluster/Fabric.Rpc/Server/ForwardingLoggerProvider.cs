using Microsoft.Extensions.Logging;

namespace Fabric.Rpc.Server;

/// <summary>Hands Kestrel's loggers to the application's logger factory (after the host's level filters).</summary>
internal sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

    public void Dispose()
    {
        // The factory belongs to the application.
    }
}
