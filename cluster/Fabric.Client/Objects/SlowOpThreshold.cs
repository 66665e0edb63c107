using System.Globalization;

namespace Fabric.Client.Objects;

/// <summary>
/// When an op counts as slow, for the object client and the OSD alike (like Ceph's osd_op_complaint_time):
/// an op older than the threshold is logged at Warning once, then once more each time its age crosses another
/// multiple of it. The operator sets it with FABRIC_SLOW_OP_SECONDS (default 30, "0" turns the reports off);
/// both sides read the same variable through <see cref="FromEnvironment"/> so a bad value fails with the same message.
/// </summary>
public static class SlowOpThreshold
{
    public const string Variable = "FABRIC_SLOW_OP_SECONDS";

    public const long DefaultMs = 30_000;

    /// <summary>How often the owners look for slow ops: the resolution of the reports, not their threshold.
    /// A threshold below it is checked as often as the threshold itself.</summary>
    public const long CheckIntervalMs = 5_000;

    /// <summary>Detailed lines logged per check; past them only the summary line counts the rest, so a stuck
    /// pool with thousands of queued ops does not flood the log.</summary>
    public const int MaxLinesPerCheck = 10;

    /// <summary>The threshold in milliseconds from FABRIC_SLOW_OP_SECONDS (0 = never report); a value that does not
    /// parse is an error naming the variable.</summary>
    public static long FromEnvironment(Func<string, string?>? lookup = null)
    {
        lookup ??= Environment.GetEnvironmentVariable;
        if (lookup(Variable) is not { Length: > 0 } text)
        {
            return DefaultMs;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds)
            || !double.IsFinite(seconds) || seconds < 0 || seconds > 7 * 24 * 3600)
        {
            throw new FormatException($"{Variable}='{text}' is not a number of seconds (30 is the default, 0 turns slow-op reports off)");
        }
        // A positive value below a millisecond still means "report", not "off".
        return seconds == 0 ? 0 : Math.Max(1, (long)Math.Round(seconds * 1000));
    }

    /// <summary>The summary line's note on due ops beyond <see cref="MaxLinesPerCheck"/> ("" when there are none).</summary>
    public static string NotShownText(int notShown) => notShown > 0 ? $" ({notShown} more crossed the threshold, not shown)" : "";

    /// <summary>The interval between checks for a threshold: <see cref="CheckIntervalMs"/>, or the threshold when smaller.</summary>
    public static long CheckEveryMs(long thresholdMs) => Math.Clamp(thresholdMs, 1, CheckIntervalMs);
}
