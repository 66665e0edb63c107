using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Fabric.Core.Units;

/// <summary>
/// Durations as operators write them in config and on the command line, in the style of Go's
/// time.ParseDuration (etcd, Kubernetes, Prometheus): a number and a unit, optionally several in a row.
/// <list type="bullet">
/// <item>units: <c>ns</c>, <c>us</c> (or <c>µs</c>), <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c>, <c>d</c> (24 h);</item>
/// <item>examples: <c>500ms</c>, <c>3s</c>, <c>1m</c>, <c>2h</c>, <c>1.5s</c>, <c>1m30s</c>;</item>
/// <item>a bare number is refused (500 what?), so is a negative duration;</item>
/// <item>resolution is TimeSpan's 100 ns; finer fractions are refused rather than rounded.</item>
/// </list>
/// <see cref="Format"/> writes the shortest exact form ("1m30s", "500ms"), which parses back to the same value.
/// </summary>
public static class DurationText
{
    public const string Expected = "a duration such as 500ms, 3s, 1m, 2h or 1m30s (units ns, us, ms, s, m, h, d)";

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value, out var error) ? value : throw new FormatException(error);

    /// <summary>Parses a duration; on failure <paramref name="error"/> says what was found and what is expected.</summary>
    public static bool TryParse(string? text, out TimeSpan value, [NotNullWhen(false)] out string? error)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = $"empty duration; expected {Expected}";
            return false;
        }

        var span = text.AsSpan().Trim();
        if (span[0] == '-')
        {
            error = $"duration '{text}' is negative; expected {Expected}";
            return false;
        }

        decimal totalTicks = 0;
        var at = 0;
        while (at < span.Length)
        {
            // Groups may be separated by spaces: "1m 30s".
            while (span[at] == ' ')
            {
                at++;
            }

            var numberStart = at;
            while (at < span.Length && (char.IsAsciiDigit(span[at]) || span[at] == '.'))
            {
                at++;
            }

            var number = span[numberStart..at];
            var unitStart = at;
            while (at < span.Length && !char.IsAsciiDigit(span[at]) && span[at] != '.')
            {
                at++;
            }

            var unit = span[unitStart..at].Trim();
            if (number.IsEmpty || number[0] == '.' || number[^1] == '.' || number.Count('.') > 1 || number.Length > 20
                || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
            {
                error = $"'{text}' is not a duration; expected {Expected}";
                return false;
            }

            if (unit.IsEmpty)
            {
                error = $"duration '{text}' has no unit; expected {Expected}";
                return false;
            }

            var ticksPerUnit = unit switch
            {
                "ns" => 0.01m,
                "us" or "µs" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                "d" => TimeSpan.TicksPerDay,
                _ => -1m,
            };
            if (ticksPerUnit < 0)
            {
                error = $"unknown duration unit '{unit}' in '{text}'; expected {Expected}";
                return false;
            }

            totalTicks += amount * ticksPerUnit;
            if (totalTicks > TimeSpan.MaxValue.Ticks)
            {
                error = $"duration '{text}' is too long";
                return false;
            }
        }

        if (totalTicks != decimal.Truncate(totalTicks))
        {
            error = $"duration '{text}' is finer than 100ns, the resolution durations are kept in";
            return false;
        }

        value = TimeSpan.FromTicks((long)totalTicks);
        error = null;
        return true;
    }

    /// <summary>The shortest exact text: "0s", "500ms", "3s", "1m30s", "2h", "1s500ms", "1h0m5s" is written "1h5s".</summary>
    public static string Format(TimeSpan value)
    {
        if (value < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "durations are never negative");
        }

        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        var text = new StringBuilder();
        var ticks = value.Ticks;
        Append(text, ref ticks, TimeSpan.TicksPerHour, "h");
        Append(text, ref ticks, TimeSpan.TicksPerMinute, "m");
        Append(text, ref ticks, TimeSpan.TicksPerSecond, "s");
        Append(text, ref ticks, TimeSpan.TicksPerMillisecond, "ms");
        Append(text, ref ticks, TimeSpan.TicksPerMicrosecond, "us");
        if (ticks > 0)
        {
            text.Append((ticks * 100).ToString(CultureInfo.InvariantCulture)).Append("ns");
        }

        return text.ToString();
    }

    private static void Append(StringBuilder text, ref long ticks, long unitTicks, string unit)
    {
        var count = ticks / unitTicks;
        if (count > 0)
        {
            text.Append(count.ToString(CultureInfo.InvariantCulture)).Append(unit);
            ticks -= count * unitTicks;
        }
    }
}
