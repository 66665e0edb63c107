using System.Diagnostics.Metrics;
using Fabric.Core.Time;
using Fabric.Storage.Osd;

namespace Fabric.Node.Metrics;

/// <summary>
/// The OSD's latency per stage on /metrics (OsdPerfCounters: what `ceph daemon osd.N perf dump` shows as op_w_latency,
/// subop_w_latency, commit latency): per stage, the ops counted, the seconds they took in total (rate of one over
/// rate of the other is the mean) and the p50/p99 since the OSD started. Read at scrape time.
/// </summary>
public sealed class StorageMetrics : IDisposable
{
    public const string MeterName = "Fabric.Storage";
    private static readonly double[] Quantiles = [0.5, 0.99];
    private readonly Meter _meter = new(MeterName, "1.0");

    public StorageMetrics(int osd, OsdPerfCounters perf)
    {
        var osdTag = new KeyValuePair<string, object?>("osd", osd);
        _meter.CreateObservableCounter("fabric.osd.ops", () => Observe(perf, osdTag, h => h.Count), "{op}",
            "Ops (or stages of ops) the OSD completed, by stage: write, write_prepare, write_local_commit, write_replica_ack, replica_commit, read, store_sync");
        _meter.CreateObservableCounter("fabric.osd.op_latency", () => Observe(perf, osdTag, h => h.SumMicros / 1e6), "s",
            "Seconds the OSD's ops spent in each stage, in total (divided by fabric_osd_ops_total: the mean)");
        _meter.CreateObservableGauge("fabric.osd.op_latency_quantile", () => ObserveQuantiles(perf, osdTag), "s",
            "Latency of each stage at quantile 0.5 and 0.99 since the OSD started");
    }

    private static IEnumerable<Measurement<T>> Observe<T>(OsdPerfCounters perf, KeyValuePair<string, object?> osd, Func<LatencyHistogram, T> read)
        where T : struct
    {
        foreach (var (stage, histogram) in perf.Stages())
        {
            yield return new Measurement<T>(read(histogram), osd, new KeyValuePair<string, object?>("stage", stage));
        }
    }

    private static IEnumerable<Measurement<double>> ObserveQuantiles(OsdPerfCounters perf, KeyValuePair<string, object?> osd)
    {
        foreach (var (stage, histogram) in perf.Stages())
        {
            if (histogram.Count == 0) continue;
            foreach (double q in Quantiles)
            {
                yield return new Measurement<double>(histogram.PercentileMicros(q) / 1e6, osd,
                    new KeyValuePair<string, object?>("stage", stage), new KeyValuePair<string, object?>("quantile", q));
            }
        }
    }

    public void Dispose() => _meter.Dispose();
}
