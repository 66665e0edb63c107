using Fabric.BlockBackend.Nbd;
using Fabric.BlockBackend.Tests.Support;
using Fabric.BlockBackend.Volumes;

namespace Fabric.BlockBackend.Tests.Nbd;

/// <summary>An NBD server on a unix socket and loopback TCP over a directory of file volumes.</summary>
public sealed class NbdHarness : IAsyncDisposable
{
    private NbdHarness(TempDir dir, DirectoryVolumeProvider provider, NbdServer server, ListLogger log)
    {
        Dir = dir;
        Provider = provider;
        Server = server;
        Log = log;
    }

    public TempDir Dir { get; }

    public DirectoryVolumeProvider Provider { get; }

    public NbdServer Server { get; }

    public ListLogger Log { get; }

    public string Socket => Server.UnixSocketPath!;

    public string UnixUri(string name) => Server.GetExportUris(name).Single(u => u.StartsWith("nbd+unix", StringComparison.Ordinal));

    public string TcpUri(string name) => Server.GetExportUris(name).Single(u => u.StartsWith("nbd://", StringComparison.Ordinal));

    public static NbdHarness Start(ITestOutputHelper output, params (string Name, long Size)[] volumes)
    {
        var dir = new TempDir();
        var provider = new DirectoryVolumeProvider(dir["volumes"]);
        foreach (var (name, size) in volumes)
        {
            provider.Create(name, size).DisposeAsync().AsTask().Wait();
        }
        var log = new ListLogger(output);
        var server = new NbdServer(provider, new NbdServerOptions { TcpHost = "127.0.0.1", UnixSocketPath = dir["nbd.sock"] }, log);
        server.Start();
        return new NbdHarness(dir, provider, server, log);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Dir.Dispose();
    }
}
