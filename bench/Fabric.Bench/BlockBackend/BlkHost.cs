using System.Runtime.InteropServices;
using Fabric.BlockBackend.Cache;
using Fabric.BlockBackend.Nbd;
using Fabric.BlockBackend.VhostUser;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Io;

namespace Fabric.Bench.BlockBackend;

/// <summary>
/// `Fabric.Bench blk-host`: serves one volume over NBD and/or vhost-user-blk for bench/blk-compare.sh, until
/// SIGTERM/SIGINT (or stdin closes, with --watch-stdin). Today the volume is a local file (FileBlockVolume); the node will serve a
/// 3-replica volume of a real cluster through the same servers.
/// <code>
///   blk-host --dir DIR --name NAME --size-mib N [--nbd-socket PATH] [--nbd-port PORT]
///            [--vhost-socket PATH] [--queues N] [--cache] [--cache-mib N]
/// </code>
/// Prints "READY" and the export URIs when listening.
/// </summary>
public static class BlkHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        string? dir = null, name = "bench", nbdSocket = null, vhostSocket = null;
        int nbdPort = -1, queues = 1, cacheMib = 256;
        long sizeMib = 1024;
        bool cache = false, watchStdin = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--dir": dir = Next(); break;
                case "--name": name = Next(); break;
                case "--size-mib": sizeMib = long.Parse(Next()); break;
                case "--nbd-socket": nbdSocket = Next(); break;
                case "--nbd-port": nbdPort = int.Parse(Next()); break;
                case "--vhost-socket": vhostSocket = Next(); break;
                case "--queues": queues = int.Parse(Next()); break;
                case "--cache": cache = true; break;
                case "--watch-stdin": watchStdin = true; break;
                case "--cache-mib": cacheMib = int.Parse(Next()); break;
                default:
                    Console.Error.WriteLine($"blk-host: unknown argument '{args[i]}'");
                    return 2;
            }
        }
        if (dir is null || (nbdSocket is null && nbdPort < 0 && vhostSocket is null))
        {
            Console.Error.WriteLine("usage: blk-host --dir DIR [--name NAME] [--size-mib N] [--nbd-socket PATH] [--nbd-port PORT] [--vhost-socket PATH] [--queues N] [--cache] [--cache-mib N]");
            return 2;
        }

        var files = new DirectoryVolumeProvider(dir);
        if (!File.Exists(files.PathOf(name)))
        {
            await files.Create(name, sizeMib << 20).DisposeAsync();
        }
        using var blockCache = cache
            ? new BlockCache(new BlockCacheOptions { Enabled = true, MemoryBytes = (long)cacheMib << 20, Directory = Path.Combine(dir, "cache") })
            : null;
        IBlockVolumeProvider provider = blockCache is null ? files : new CachingProvider(files, blockCache);

        NbdServer? nbd = null;
        VhostUserBlkServer? vhost = null;
        IBlockVolume? vhostVolume = null;
        if (nbdSocket is not null || nbdPort >= 0)
        {
            nbd = new NbdServer(provider, new NbdServerOptions
            {
                UnixSocketPath = nbdSocket,
                TcpHost = nbdPort >= 0 ? "127.0.0.1" : null,
                TcpPort = Math.Max(0, nbdPort),
            });
            nbd.Start();
        }
        if (vhostSocket is not null)
        {
            var opened = await provider.OpenAsync(name, new VolumeOpenOptions(true, false, "blk-host"), default);
            vhostVolume = opened.Volume ?? throw new InvalidOperationException(opened.Error);
            vhost = new VhostUserBlkServer(vhostSocket, vhostVolume, new VhostUserBlkOptions { NumQueues = queues });
            vhost.Start();
        }

        Console.WriteLine("READY");
        foreach (var uri in nbd?.GetExportUris(name) ?? [])
        {
            Console.WriteLine(uri);
        }
        if (vhost is not null)
        {
            Console.WriteLine($"vhost-user-blk {vhost.SocketPath}");
        }
        Console.Out.Flush();

        var stop = new TaskCompletionSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        if (watchStdin)
        {
            _ = Task.Run(() =>
            {
                while (Console.In.Read() >= 0)
                {
                }
                stop.TrySetResult();
            });
        }
        await stop.Task;

        if (vhost is not null)
        {
            await vhost.DisposeAsync();
        }
        if (vhostVolume is not null)
        {
            await vhostVolume.DisposeAsync();
        }
        if (nbd is not null)
        {
            await nbd.DisposeAsync();
        }
        if (blockCache is not null)
        {
            Console.Error.WriteLine($"blk-host: cache hits {blockCache.Hits}, misses {blockCache.Misses}");
        }
        return 0;
    }

    /// <summary>Wraps every opened volume in the block cache (this host holds the volumes exclusively).</summary>
    private sealed class CachingProvider(IBlockVolumeProvider inner, BlockCache cache) : IBlockVolumeProvider
    {
        public async ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken)
        {
            var opened = await inner.OpenAsync(volumeName, options, cancellationToken);
            return opened.Volume is { } v ? OpenVolumeResult.Ok(new CachedBlockVolume(v, cache)) : opened;
        }

        public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);
    }
}
