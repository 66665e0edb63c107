// Port counters as System.Diagnostics.Metrics instruments on the meter "Fabric.Switch"; the node's
// /metrics endpoint exports them. Observable instruments read the counters when scraped: nothing is
// recorded per frame.
using System.Diagnostics.Metrics;
using Fabric.Switch.Flows;
using Fabric.Switch.Ports;

namespace Fabric.Switch.Control;

public sealed class SwitchMetrics : IDisposable
{
    public const string MeterName = "Fabric.Switch";
    private readonly Meter _meter;
    private readonly VirtualSwitch _switch;

    internal SwitchMetrics(VirtualSwitch sw)
    {
        _switch = sw;
        _meter = new Meter(MeterName, "1.0");
        Counter("fabric.switch.port.rx.packets", "{packet}", "Frames received by a port", c => c.RxPackets);
        Counter("fabric.switch.port.rx.bytes", "By", "Bytes received by a port", c => c.RxBytes);
        Counter("fabric.switch.port.tx.packets", "{packet}", "Frames sent by a port", c => c.TxPackets);
        Counter("fabric.switch.port.tx.bytes", "By", "Bytes sent by a port", c => c.TxBytes);
        Counter("fabric.switch.port.drop.packets", "{packet}", "Frames dropped at a port (any reason)", c => c.DropPackets);
        _meter.CreateObservableCounter("fabric.switch.port.drops", ObserveDrops, "{packet}", "Frames dropped at a port, by reason");
        _meter.CreateObservableCounter("fabric.switch.flow_cache.hits", () => _switch.Datapath.Cache.Hits, "{lookup}", "Exact-match cache hits");
        _meter.CreateObservableCounter("fabric.switch.flow_cache.misses", () => _switch.Datapath.Cache.Misses, "{lookup}", "Exact-match cache misses (slow path)");
    }

    public Meter Meter => _meter;

    private void Counter(string name, string unit, string description, Func<PortCounters, long> read) =>
        _meter.CreateObservableCounter(name, () => Observe(read), unit, description);

    private IEnumerable<Measurement<long>> Observe(Func<PortCounters, long> read)
    {
        foreach (var p in _switch.Ports)
            yield return new Measurement<long>(read(p.Counters), Tags(p));
    }

    private IEnumerable<Measurement<long>> ObserveDrops()
    {
        foreach (var p in _switch.Ports)
        {
            var d = p.Counters.DropsByReason;
            for (int i = 1; i < d.Length; i++)
                if (d[i] != 0)
                    yield return new Measurement<long>(d[i], [.. Tags(p), new("reason", ((DropReason)i).ToString().ToLowerInvariant())]);
        }
    }

    private KeyValuePair<string, object?>[] Tags(SwitchPort p) =>
    [
        new("node", _switch.Options.NodeName),
        new("port", p.Name),
        new("kind", p.Kind.ToString().ToLowerInvariant()),
        new("network", p.Network),
    ];

    public void Dispose() => _meter.Dispose();
}
