using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Fabric.Node.Metrics;

/// <summary>
/// Collects every instrument of the node's meters (System.Diagnostics.Metrics) and renders them in the
/// Prometheus text exposition format (version 0.0.4) for GET /metrics.
/// </summary>
/// <remarks>
/// Counters become `_total` counters, UpDownCounters and gauges become gauges, histograms become
/// Prometheus histograms with fixed buckets. Observable instruments are polled at scrape time. Metric
/// names are the instrument names with '.' and '-' turned into '_' and prefixed "fabric_" when they do
/// not start with it already; tags become labels. Measurements with tags cost a label-key string each;
/// hot paths (per packet, per block) therefore publish observable instruments, read at scrape time.
/// The series of an observable instrument are exactly those of its last observation, so a series whose
/// subject went away (a detached switch port) leaves the output instead of repeating its last value.
/// </remarks>
public sealed class PrometheusExporter : IDisposable
{
    private static readonly double[] DefaultBuckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener = new();
    private readonly Func<string, bool> _meterFilter;
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _instruments = new();

    public PrometheusExporter(Func<string, bool> meterFilter)
    {
        _meterFilter = meterFilter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!_meterFilter(instrument.Meter.Name)) return;
            _instruments.TryAdd(instrument, new InstrumentState(instrument));
            listener.EnableMeasurementEvents(instrument);
        };
        _listener.MeasurementsCompleted = (instrument, _) => _instruments.TryRemove(instrument, out InstrumentState? _);
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_instruments.TryGetValue(instrument, out var state)) state.Record(value, tags);
    }

    /// <summary>The exposition text of every series.</summary>
    public string Render()
    {
        lock (_renderGate)
        {
            return RenderLocked();
        }
    }

    private readonly object _renderGate = new();

    private string RenderLocked()
    {
        foreach (var state in _instruments.Values) state.BeginObservation();
        _listener.RecordObservableInstruments();
        var text = new StringBuilder(4096);
        foreach (var group in _instruments.Values.GroupBy(s => s.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var first = group.First();
            text.Append("# HELP ").Append(first.Name).Append(' ').Append(Escape(first.Help)).Append('\n');
            text.Append("# TYPE ").Append(first.Name).Append(' ').Append(first.Type).Append('\n');
            foreach (var state in group) state.Render(text);
        }
        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    internal static string MetricName(string instrumentName, string? unit, bool counter)
    {
        var name = new StringBuilder(instrumentName.Length + 16);
        if (!instrumentName.StartsWith("fabric", StringComparison.Ordinal)) name.Append("fabric_");
        foreach (var c in instrumentName) name.Append(char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_');
        var suffix = unit switch
        {
            "s" => "_seconds",
            "By" or "bytes" => "_bytes",
            _ => "",
        };
        if (suffix.Length > 0 && !name.ToString().EndsWith(suffix, StringComparison.Ordinal)) name.Append(suffix);
        if (counter) name.Append("_total");
        return name.ToString();
    }

    private static string Escape(string text) => text.Replace("\\", "\\\\").Replace("\n", "\\n");

    private static string LabelValue(object? value) =>
        (Convert.ToString(value, CultureInfo.InvariantCulture) ?? "").Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);

    private sealed class InstrumentState
    {
        private readonly bool _histogram;
        private readonly bool _cumulative;
        private readonly bool _observable;
        private readonly ConcurrentDictionary<string, Series> _series = new();

        public InstrumentState(Instrument instrument)
        {
            var type = instrument.GetType();
            var generic = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
            _histogram = generic == typeof(Histogram<>);
            _cumulative = generic == typeof(Counter<>) || generic == typeof(ObservableCounter<>);
            _observable = instrument.IsObservable;
            Name = MetricName(instrument.Name, instrument.Unit, _cumulative);
            Help = instrument.Description ?? instrument.Name;
            Type = _histogram ? "histogram" : _cumulative ? "counter" : "gauge";
        }

        public string Name { get; }

        public string Help { get; }

        public string Type { get; }

        /// <summary>Before a scrape polls the observable instruments: their old series are forgotten.</summary>
        public void BeginObservation()
        {
            if (_observable) _series.Clear();
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(tags);
            var series = _series.GetOrAdd(labels, static l => new Series(l));
            lock (series)
            {
                if (_histogram)
                {
                    series.Count++;
                    series.Sum += value;
                    for (int i = 0; i < DefaultBuckets.Length; i++)
                    {
                        if (value <= DefaultBuckets[i]) series.Buckets[i]++;
                    }
                }
                else if (_cumulative && !_observable)
                {
                    series.Value += value;
                }
                else
                {
                    // Gauges and observable counters report absolute values; UpDownCounters add.
                    series.Value = _observable ? value : series.Value + value;
                }
            }
        }

        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0) return "";
            var sorted = tags.ToArray();
            Array.Sort(sorted, (a, b) => string.CompareOrdinal(a.Key, b.Key));
            var text = new StringBuilder();
            foreach (var tag in sorted)
            {
                if (text.Length > 0) text.Append(',');
                foreach (var c in tag.Key) text.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
                text.Append("=\"").Append(LabelValue(tag.Value)).Append('"');
            }
            return text.ToString();
        }

        public void Render(StringBuilder text)
        {
            foreach (var series in _series.Values.OrderBy(s => s.Labels, StringComparer.Ordinal))
            {
                lock (series)
                {
                    if (_histogram)
                    {
                        for (int i = 0; i < DefaultBuckets.Length; i++)
                        {
                            Line(text, Name + "_bucket", series.Labels, "le=\"" + Number(DefaultBuckets[i]) + "\"", series.Buckets[i]);
                        }
                        Line(text, Name + "_bucket", series.Labels, "le=\"+Inf\"", series.Count);
                        Line(text, Name + "_sum", series.Labels, null, series.Sum);
                        Line(text, Name + "_count", series.Labels, null, series.Count);
                    }
                    else
                    {
                        Line(text, Name, series.Labels, null, series.Value);
                    }
                }
            }
        }

        private static void Line(StringBuilder text, string name, string labels, string? extra, double value)
        {
            text.Append(name);
            if (labels.Length > 0 || extra is not null)
            {
                text.Append('{').Append(labels);
                if (extra is not null) text.Append(labels.Length > 0 ? "," : "").Append(extra);
                text.Append('}');
            }
            text.Append(' ').Append(Number(value)).Append('\n');
        }
    }

    private sealed class Series(string labels)
    {
        public readonly string Labels = labels;
        public readonly long[] Buckets = new long[DefaultBuckets.Length];
        public double Value;
        public double Sum;
        public long Count;
    }
}
