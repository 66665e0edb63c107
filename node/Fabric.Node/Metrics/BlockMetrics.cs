using System.Diagnostics.Metrics;
using Fabric.BlockBackend.Cache;
using Fabric.Node.Vms;

namespace Fabric.Node.Metrics;

/// <summary>
/// The block backend's caches on /metrics: per volume with a write cache on this node, its unflushed bytes, the
/// writes it acknowledged from memory and what it wrote back (bytes per write-back shows the merging); and the
/// FASTER read cache's hits and misses. Observable instruments, read at scrape time (nothing on the I/O path).
/// </summary>
public sealed class BlockMetrics : IDisposable
{
    public const string MeterName = "Fabric.Block";
    private readonly Meter _meter = new(MeterName, "1.0");

    public BlockMetrics(NodeVolumeProvider volumes, BlockCache? readCache)
    {
        _meter.CreateObservableGauge("fabric.block.write_cache.dirty", () => Observe(volumes, c => c.DirtyBytes), "By",
            "Writes acknowledged from the node's write cache and not yet written back, by volume");
        _meter.CreateObservableCounter("fabric.block.write_cache.writes", () => Observe(volumes, c => c.CachedWrites), "{write}",
            "Writes acknowledged from the write cache, by volume (since the volume was opened here)");
        _meter.CreateObservableCounter("fabric.block.write_cache.writebacks", () => Observe(volumes, c => c.Writebacks), "{write}",
            "Write-backs sent to the cluster, by volume");
        _meter.CreateObservableCounter("fabric.block.write_cache.writeback_bytes", () => Observe(volumes, c => c.WritebackBytes), "By",
            "Bytes written back to the cluster, by volume");
        if (readCache is not null)
        {
            _meter.CreateObservableCounter("fabric.block.read_cache.hits", () => readCache.Hits, "{block}", "FASTER block cache hits");
            _meter.CreateObservableCounter("fabric.block.read_cache.misses", () => readCache.Misses, "{block}", "FASTER block cache misses");
        }
    }

    private static IEnumerable<Measurement<long>> Observe(NodeVolumeProvider volumes, Func<WriteBackVolume, long> read)
    {
        foreach (var (volume, cache) in volumes.WriteCaches())
        {
            yield return new Measurement<long>(read(cache), new KeyValuePair<string, object?>("volume", volume));
        }
    }

    public void Dispose() => _meter.Dispose();
}
