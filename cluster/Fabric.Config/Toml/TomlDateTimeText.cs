using System.Globalization;
using System.Text;

namespace Fabric.Config.Toml;

/// <summary>
/// Formats TOML date and time values the way toml-test and RFC 3339 write them: "1979-05-27",
/// "07:32:00", fractions with at least three digits and no trailing zeros past the third
/// ("17:45:56.600", "00:32:00.999999"), offsets as "Z" or "+08:00".
/// </summary>
internal static class TomlDateTimeText
{
    public static string Date(DateOnly date) =>
        date.ToString("yyyy'-'MM'-'dd", CultureInfo.InvariantCulture);

    public static string Time(TimeOnly time)
    {
        var text = new StringBuilder(16);
        text.Append(time.ToString("HH':'mm':'ss", CultureInfo.InvariantCulture));
        var fractionTicks = time.Ticks % TimeSpan.TicksPerSecond;
        if (fractionTicks != 0)
        {
            // Seven digits of 100 ns ticks, trailing zeros trimmed down to milliseconds.
            var digits = fractionTicks.ToString("D7", CultureInfo.InvariantCulture).TrimEnd('0');
            if (digits.Length < 3)
            {
                digits = digits.PadRight(3, '0');
            }

            text.Append('.').Append(digits);
        }

        return text.ToString();
    }

    public static string DateTime(DateTime clock) =>
        Date(DateOnly.FromDateTime(clock)) + "T" + Time(TimeOnly.FromDateTime(clock));

    public static string Offset(TimeSpan offset)
    {
        if (offset == TimeSpan.Zero)
        {
            return "Z";
        }

        var sign = offset < TimeSpan.Zero ? '-' : '+';
        var magnitude = offset.Duration();
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{magnitude.Hours:D2}:{magnitude.Minutes:D2}");
    }
}
