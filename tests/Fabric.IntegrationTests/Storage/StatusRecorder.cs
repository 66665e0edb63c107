using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Storage;

/// <summary>
/// Runs `fabric status --json` back to back in the background and keeps what each answer said about
/// the PGs: the storage story of a test (degraded, recovering, clean) as a user would have seen it.
/// </summary>
public sealed class StatusRecorder : IAsyncDisposable
{
    private readonly TestCluster _cluster;
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<Sample> _samples = new();
    private readonly Task _loop;

    public sealed record Sample(double Seconds, string Health, IReadOnlyDictionary<string, int> States, long DegradedObjects, IReadOnlyList<string> NodesDown)
    {
        public int Total => States.Values.Sum();

        public bool Degraded => States.Keys.Any(s => s.Contains("degraded") || s.Contains("undersized"));

        public bool Recovering => States.Keys.Any(s => s.Contains("recovering") || s.Contains("backfilling"));

        public bool Clean => Total > 0 && States.TryGetValue("active+clean", out var n) && n == Total;

        public override string ToString() =>
            $"{Seconds,6:0.0}s {Health} [{string.Join(", ", States.Select(s => $"{s.Value} {s.Key}"))}] degraded={DegradedObjects}{(NodesDown.Count > 0 ? " down=" + string.Join(",", NodesDown) : "")}";
    }

    public StatusRecorder(TestCluster cluster)
    {
        _cluster = cluster;
        _loop = Task.Run(RunAsync);
    }

    public IReadOnlyList<Sample> Samples
    {
        get
        {
            lock (_samples) return _samples.ToList();
        }
    }

    /// <summary>Waits for a sample (taken after this call) that satisfies the condition.</summary>
    public async Task<Sample> WaitForAsync(Func<Sample, bool> condition, TimeSpan timeout, string what)
    {
        int from;
        lock (_samples) from = _samples.Count;
        var found = await Wait.UntilAsync(() =>
        {
            lock (_samples) return Task.FromResult(_samples.Skip(from).FirstOrDefault(condition));
        }, s => s is not null, timeout, what + "; recorded:\n" + Story());
        return found!;
    }

    /// <summary>The recorded samples, one line each, with repeats folded (for failure messages and the test log).</summary>
    public string Story()
    {
        var lines = new List<string>();
        string? last = null;
        foreach (var sample in Samples)
        {
            var key = sample.Health + string.Join(",", sample.States.Select(s => s.Key + s.Value)) + string.Join(",", sample.NodesDown);
            if (key == last) continue;
            last = key;
            lines.Add(sample.ToString());
        }
        return string.Join("\n", lines);
    }

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var result = await _cluster.CliAsync("status", "--json");
                if (result.ExitCode != 0) continue;
                var json = result.Json;
                var states = new Dictionary<string, int>();
                if (json["pgs"]?["states"] is JsonObject stateObject)
                {
                    foreach (var (state, count) in stateObject) states[state] = (int)count!;
                }
                var sample = new Sample(_clock.Elapsed.TotalSeconds, (string)json["health"]!["status"]!, states, (long?)json["pgs"]?["degraded_objects"] ?? 0,
                    json["nodes"]?["down"]?.AsArray().Select(n => (string)n!).ToList() ?? []);
                lock (_samples) _samples.Add(sample);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                // A status call that timed out or printed no JSON (a node was just killed): try again.
                await Task.Delay(50);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop;
        _stop.Dispose();
    }
}
