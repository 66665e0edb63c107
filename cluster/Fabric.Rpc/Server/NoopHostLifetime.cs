using Microsoft.Extensions.Hosting;

namespace Fabric.Rpc.Server;

/// <summary>
/// The embedded web host must not take over Ctrl+C / SIGTERM (the default console lifetime does):
/// the process that hosts the RpcServer decides when it stops.
/// </summary>
internal sealed class NoopHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
