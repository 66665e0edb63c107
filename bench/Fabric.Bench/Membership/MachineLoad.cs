using System.Globalization;

namespace Fabric.Bench.Membership;

/// <summary>The 1/5/15-minute load averages and CPU count, printed beside every result: this machine is
/// shared, and a latency number means little without the load it was measured under.</summary>
public static class MachineLoad
{
    public static string Describe()
    {
        var text = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
        var load = text.Length >= 3 ? $"{text[0]} {text[1]} {text[2]}" : "unknown";
        return string.Create(CultureInfo.InvariantCulture, $"load average {load} on {Environment.ProcessorCount} CPUs");
    }

    /// <summary>The 1-minute load average (NaN when unknown).</summary>
    public static double OneMinute()
    {
        if (!File.Exists("/proc/loadavg")) return double.NaN;
        var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        return double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : double.NaN;
    }
}
