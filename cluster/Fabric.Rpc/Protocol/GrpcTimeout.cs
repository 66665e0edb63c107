using System.Globalization;

namespace Fabric.Rpc.Protocol;

/// <summary>
/// The <c>grpc-timeout</c> header: a positive integer of at most 8 ASCII digits followed by one unit,
/// H (hours), M (minutes), S (seconds), m (milliseconds), u (microseconds) or n (nanoseconds).
/// Encoding picks the finest unit whose value fits in 8 digits and rounds up, so a deadline is never
/// made shorter on the way.
/// </summary>
public static class GrpcTimeout
{
    private const long MaxValue = 99_999_999;

    private static readonly (char Unit, long Nanoseconds)[] Units =
    [
        ('n', 1L),
        ('u', 1_000L),
        ('m', 1_000_000L),
        ('S', 1_000_000_000L),
        ('M', 60_000_000_000L),
        ('H', 3_600_000_000_000L),
    ];

    public static string Encode(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero)
        {
            // The spec has no zero: the smallest positive value says "already expired" to the server.
            return "1n";
        }

        // TimeSpan ticks are 100 ns; saturate rather than overflow for absurdly long timeouts.
        long nanoseconds = timeout.Ticks > long.MaxValue / 100 ? long.MaxValue : timeout.Ticks * 100;
        foreach ((char unit, long size) in Units)
        {
            long value = nanoseconds / size + (nanoseconds % size == 0 ? 0 : 1);
            if (value <= MaxValue)
            {
                return value.ToString(CultureInfo.InvariantCulture) + unit;
            }
        }

        return MaxValue.ToString(CultureInfo.InvariantCulture) + "H";
    }

    /// <summary>Parses a header value; false when it is malformed.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out TimeSpan timeout)
    {
        timeout = default;
        if (text.Length < 2 || text.Length > 9)
        {
            return false;
        }

        long value = 0;
        ReadOnlySpan<char> digits = text[..^1];
        foreach (char c in digits)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = value * 10 + (c - '0');
        }

        long nanosecondsPerUnit = 0;
        foreach ((char unit, long size) in Units)
        {
            if (unit == text[^1])
            {
                nanosecondsPerUnit = size;
            }
        }

        if (nanosecondsPerUnit == 0)
        {
            return false;
        }

        // value <= 99,999,999 and the unit <= 3.6e12 ns: value * unit / 100 fits in a long of ticks.
        decimal ticks = (decimal)value * nanosecondsPerUnit / 100m;
        timeout = ticks >= TimeSpan.MaxValue.Ticks ? TimeSpan.MaxValue : TimeSpan.FromTicks((long)Math.Ceiling(ticks));
        return true;
    }
}
