using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Fabric.Core.Units;

/// <summary>
/// A non-negative number of bytes, written the way operators write sizes.
/// <para>Accepted text (whitespace around it and between number and unit is allowed):</para>
/// <list type="bullet">
/// <item>a plain number is bytes: <c>512</c>, <c>512B</c>;</item>
/// <item>binary (IEC) units: <c>4KiB</c>, <c>256MiB</c>, <c>2GiB</c>, <c>1TiB</c>, also PiB and EiB;</item>
/// <item>single letters mean the same binary units, as in QEMU (<c>-m 2G</c>) and Ceph (<c>2G</c>):
///   <c>K</c>, <c>M</c>, <c>G</c>, <c>T</c>, <c>P</c>, <c>E</c> (either case);</item>
/// <item>a fraction is allowed when the result is a whole number of bytes: <c>1.5GiB</c>.</item>
/// </list>
/// <para><c>KB</c>, <c>MB</c>, <c>GB</c>... are refused: half the tools read them as powers of ten and
/// half as powers of two, and a disk 7% smaller than intended is a bad surprise. The message says to
/// write GiB (or G).</para>
/// <para><see cref="ToString"/> writes the exact value in the largest unit that divides it
/// (<c>2GiB</c>, <c>1536MiB</c>, <c>1000</c>), so formatting then parsing gives the same size.</para>
/// </summary>
public readonly record struct ByteSize : IComparable<ByteSize>
{
    public const long KiB = 1L << 10;
    public const long MiB = 1L << 20;
    public const long GiB = 1L << 30;
    public const long TiB = 1L << 40;
    public const long PiB = 1L << 50;
    public const long EiB = 1L << 60;

    public const string Expected =
        "a size such as 512 (bytes), 4KiB, 256MiB, 1.5GiB or 2G (units B, KiB, MiB, GiB, TiB, PiB, EiB; K, M, G, T, P, E are the same binary units)";

    private static readonly (string Suffix, long Factor)[] FormatUnits =
        [("EiB", EiB), ("PiB", PiB), ("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)];

    private const string Letters = "KMGTPE";

    public ByteSize(long bytes)
    {
        if (bytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "a size cannot be negative");
        }

        Bytes = bytes;
    }

    public long Bytes { get; }

    public static ByteSize Zero => default;

    public static ByteSize FromKiB(long value) => new(checked(value * KiB));

    public static ByteSize FromMiB(long value) => new(checked(value * MiB));

    public static ByteSize FromGiB(long value) => new(checked(value * GiB));

    public bool IsPowerOfTwo => Bytes > 0 && (Bytes & (Bytes - 1)) == 0;

    public static ByteSize Parse(string text) =>
        TryParse(text, out var size, out var error) ? size : throw new FormatException(error);

    /// <summary>Parses a size; on failure <paramref name="error"/> says what was found and what is expected.</summary>
    public static bool TryParse(string? text, out ByteSize size, [NotNullWhen(false)] out string? error)
    {
        size = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = $"empty size; expected {Expected}";
            return false;
        }

        var span = text.AsSpan().Trim();
        if (span[0] == '-')
        {
            error = $"size '{text}' is negative; expected {Expected}";
            return false;
        }

        var numberEnd = 0;
        while (numberEnd < span.Length && (char.IsAsciiDigit(span[numberEnd]) || span[numberEnd] == '.'))
        {
            numberEnd++;
        }

        var number = span[..numberEnd];
        var unit = span[numberEnd..].TrimStart();
        if (number.IsEmpty || number[0] == '.' || number[^1] == '.' || number.Count('.') > 1)
        {
            error = $"'{text}' is not a size; expected {Expected}";
            return false;
        }

        if (!TryUnitFactor(unit, out var factor, out var unitError, out var ambiguous))
        {
            error = ambiguous
                ? $"'{text}': unit '{unit}' is ambiguous (a power of ten or of two?); write {number}{char.ToUpperInvariant(unit[0])}iB for {number} x 2^{10 * (Letters.IndexOf(char.ToUpperInvariant(unit[0])) + 1)} bytes"
                : $"'{text}': {unitError}; expected {Expected}";
            return false;
        }

        var tooLarge = $"size '{text}' is too large (at most {long.MaxValue} bytes, just under 8EiB)";
        if (number.Length > 28 || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            error = tooLarge;
            return false;
        }

        decimal bytes;
        try
        {
            bytes = value * factor;
        }
        catch (OverflowException)
        {
            error = tooLarge;
            return false;
        }

        if (bytes > long.MaxValue)
        {
            error = tooLarge;
            return false;
        }

        if (bytes != decimal.Truncate(bytes))
        {
            error = $"size '{text}' is not a whole number of bytes ({bytes.ToString(CultureInfo.InvariantCulture)})";
            return false;
        }

        size = new ByteSize((long)bytes);
        error = null;
        return true;
    }

    private static bool TryUnitFactor(ReadOnlySpan<char> unit, out long factor, [NotNullWhen(false)] out string? error, out bool ambiguous)
    {
        error = null;
        ambiguous = false;
        factor = 1;
        if (unit.IsEmpty || unit.Equals("B", StringComparison.Ordinal))
        {
            return true;
        }

        var letter = char.ToUpperInvariant(unit[0]);
        var power = Letters.IndexOf(letter);
        if (power >= 0)
        {
            factor = 1L << (10 * (power + 1));
            var rest = unit[1..];
            if (rest.IsEmpty || rest.Equals("iB", StringComparison.Ordinal))
            {
                return true;
            }

            if (rest.Equals("B", StringComparison.OrdinalIgnoreCase))
            {
                ambiguous = true;
                error = $"unit '{unit}' is ambiguous";
                return false;
            }
        }

        error = $"unknown size unit '{unit}'";
        return false;
    }

    /// <summary>The exact size in the largest binary unit that divides it ("2GiB", "1536MiB"), else in bytes ("1000").</summary>
    public override string ToString()
    {
        if (Bytes == 0)
        {
            return "0";
        }

        foreach (var (suffix, factor) in FormatUnits)
        {
            if (Bytes % factor == 0)
            {
                return (Bytes / factor).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }

        return Bytes.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>An approximate size for people, at most one decimal: "1.5 GiB", "300 B".</summary>
    public string ToHumanString()
    {
        foreach (var (suffix, factor) in FormatUnits)
        {
            if (Bytes >= factor)
            {
                var value = (double)Bytes / factor;
                return value.ToString(value >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture) + " " + suffix;
            }
        }

        return Bytes.ToString(CultureInfo.InvariantCulture) + " B";
    }

    public int CompareTo(ByteSize other) => Bytes.CompareTo(other.Bytes);

    public static bool operator <(ByteSize left, ByteSize right) => left.Bytes < right.Bytes;

    public static bool operator >(ByteSize left, ByteSize right) => left.Bytes > right.Bytes;

    public static bool operator <=(ByteSize left, ByteSize right) => left.Bytes <= right.Bytes;

    public static bool operator >=(ByteSize left, ByteSize right) => left.Bytes >= right.Bytes;

    public static ByteSize operator +(ByteSize left, ByteSize right)
    {
        Debug.Assert(left.Bytes >= 0 && right.Bytes >= 0, "sizes are never negative");
        return new ByteSize(checked(left.Bytes + right.Bytes));
    }
}
