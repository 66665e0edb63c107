using System.Globalization;
using System.Text;
using Fabric.Config.Toml;

namespace Fabric.Config.Tests.Toml;

/// <summary>
/// Random TOML documents for property tests: a plain data model (ordered tables, arrays, arrays of
/// tables, every scalar type), a writer that renders it in randomly chosen but valid TOML forms (bare or
/// quoted keys, four string forms, hex/octal/binary integers with underscores, [headers], dotted keys,
/// inline tables, [[arrays of tables]]), and a reader back from the parser's document for comparison.
/// Everything comes from one seeded Random, so a failing seed replays exactly.
/// </summary>
internal sealed class RandomTomlDocument
{
    /// <summary>An ordered table of the model.</summary>
    public sealed class Table : List<KeyValuePair<string, object>>
    {
    }

    /// <summary>An array of tables written with [[headers]] or as an array of inline tables.</summary>
    public sealed class TableArray : List<Table>
    {
    }

    /// <summary>An offset date-time of the model.</summary>
    public sealed record OffsetDateTime(DateTime Clock, TimeSpan Offset);

    private readonly Random _random;

    public RandomTomlDocument(int seed)
    {
        _random = new Random(seed);
        Root = RandomTable(depth: 0);
    }

    public Table Root { get; }

    // ---- generation ----

    private Table RandomTable(int depth)
    {
        var table = new Table();
        var count = _random.Next(depth == 0 ? 1 : 0, depth > 2 ? 3 : 6);
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var key = RandomKey();
            if (!used.Add(key))
            {
                continue;
            }

            table.Add(new KeyValuePair<string, object>(key, RandomValue(depth)));
        }

        return table;
    }

    private string RandomKey()
    {
        return _random.Next(6) switch
        {
            0 => string.Empty,
            1 => RandomText(8),
            2 => _random.Next(1000).ToString(CultureInfo.InvariantCulture),
            3 => "true",
            _ => RandomBare(),
        };
    }

    private string RandomBare()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
        var length = _random.Next(1, 8);
        return string.Concat(Enumerable.Range(0, length).Select(_ => alphabet[_random.Next(alphabet.Length)]));
    }

    private string RandomText(int maxLength)
    {
        var text = new StringBuilder();
        var length = _random.Next(maxLength + 1);
        for (var i = 0; i < length; i++)
        {
            text.Append(_random.Next(12) switch
            {
                0 => "\"",
                1 => "'",
                2 => "\\",
                3 => "\n",
                4 => "\t",
                5 => ((char)_random.Next(0, 32)).ToString(),
                6 => "\u007f",
                7 => "é",
                8 => "😀",
                9 => "#",
                10 => ".",
                _ => ((char)_random.Next('a', 'z' + 1)).ToString(),
            });
        }

        return text.ToString();
    }

    private object RandomValue(int depth)
    {
        var choice = _random.Next(depth > 2 ? 9 : 12);
        return choice switch
        {
            0 => RandomText(12),
            1 => RandomInteger(),
            2 => RandomFloat(),
            3 => _random.Next(2) == 0,
            4 => new OffsetDateTime(RandomDateTime(), TimeSpan.FromMinutes(_random.Next(-23 * 60, 23 * 60 + 1))),
            5 => RandomDateTime(),
            6 => DateOnly.FromDateTime(RandomDateTime()),
            7 => TimeOnly.FromDateTime(RandomDateTime()),
            8 => Enumerable.Range(0, _random.Next(4)).Select(_ => RandomValue(depth + 1)).ToList(),
            9 or 10 => RandomTable(depth + 1),
            _ => RandomTableArray(depth + 1),
        };
    }

    private TableArray RandomTableArray(int depth)
    {
        var array = new TableArray();
        var count = _random.Next(1, 4);
        for (var i = 0; i < count; i++)
        {
            array.Add(RandomTable(depth));
        }

        return array;
    }

    private long RandomInteger() => _random.Next(5) switch
    {
        0 => long.MinValue,
        1 => long.MaxValue,
        2 => 0,
        _ => _random.NextInt64(-1_000_000_000_000, 1_000_000_000_000),
    };

    private double RandomFloat() => _random.Next(8) switch
    {
        0 => double.PositiveInfinity,
        1 => double.NegativeInfinity,
        2 => double.NaN,
        3 => -0.0,
        4 => double.MaxValue,
        5 => double.Epsilon,
        _ => (_random.NextDouble() - 0.5) * Math.Pow(10, _random.Next(-20, 20)),
    };

    private DateTime RandomDateTime()
    {
        var ticks = _random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks);
        // Whole milliseconds or whole seconds: the fraction forms the writer exercises.
        ticks -= ticks % (_random.Next(2) == 0 ? TimeSpan.TicksPerSecond : TimeSpan.TicksPerMillisecond);
        return new DateTime(ticks, DateTimeKind.Unspecified);
    }

    // ---- writing ----

    /// <summary>Renders the model as TOML, choosing forms at random (from its own seed).</summary>
    public string Write(int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        WriteSection(random, text, [], Root);
        return text.ToString();
    }

    private void WriteSection(Random random, StringBuilder text, List<string> path, Table table)
    {
        var deferredTables = new List<(string Key, Table Table)>();
        var deferredArrays = new List<(string Key, TableArray Array)>();
        foreach (var (key, value) in table)
        {
            switch (value)
            {
                case Table sub when random.Next(3) == 0:
                    deferredTables.Add((key, sub));
                    break;
                case Table sub when random.Next(2) == 0 && sub.Count > 0 && CanDot(sub):
                    WriteDotted(random, text, [key], sub);
                    break;
                case TableArray array when random.Next(2) == 0:
                    deferredArrays.Add((key, array));
                    break;
                default:
                    text.Append(Key(random, key)).Append(Space(random)).Append('=').Append(Space(random))
                        .Append(Value(random, value)).Append(Comment(random)).Append(Newline(random));
                    break;
            }
        }

        foreach (var (key, sub) in deferredTables)
        {
            var subPath = path.Append(key).ToList();
            text.Append(Newline(random)).Append('[').Append(Space(random)).Append(string.Join(".", subPath.Select(k => Key(random, k))))
                .Append(Space(random)).Append(']').Append(Comment(random)).Append(Newline(random));
            WriteSection(random, text, subPath, sub);
        }

        foreach (var (key, array) in deferredArrays)
        {
            var subPath = path.Append(key).ToList();
            foreach (var element in array)
            {
                text.Append("[[").Append(string.Join(".", subPath.Select(k => Key(random, k)))).Append("]]").Append(Newline(random));
                WriteSection(random, text, subPath, element);
            }
        }
    }

    /// <summary>Dotted keys cannot express empty tables or arrays of tables written as headers; inline those.</summary>
    private static bool CanDot(Table table) => table.All(entry => entry.Value is not Table { Count: 0 });

    private void WriteDotted(Random random, StringBuilder text, List<string> prefix, Table table)
    {
        foreach (var (key, value) in table)
        {
            var keyPath = prefix.Append(key).ToList();
            if (value is Table { Count: > 0 } sub && CanDot(sub) && random.Next(2) == 0)
            {
                WriteDotted(random, text, keyPath, sub);
                continue;
            }

            text.Append(string.Join(random.Next(2) == 0 ? "." : " . ", keyPath.Select(k => Key(random, k))))
                .Append(" = ").Append(Value(random, value)).Append(Newline(random));
        }
    }

    private static string Space(Random random) => random.Next(3) switch
    {
        0 => string.Empty,
        1 => " ",
        _ => "\t ",
    };

    private static string Newline(Random random) => random.Next(4) == 0 ? "\r\n" : "\n";

    private static string Comment(Random random) => random.Next(4) == 0 ? " # a comment with \"quotes\" and é" : string.Empty;

    private static string Key(Random random, string key)
    {
        var bare = key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
        if (bare && random.Next(3) != 0)
        {
            return key;
        }

        if (CanBeLiteral(key, multiline: false) && random.Next(2) == 0)
        {
            return "'" + key + "'";
        }

        return BasicString(random, key);
    }

    private string Value(Random random, object value) => value switch
    {
        string text => StringValue(random, text),
        long integer => Integer(random, integer),
        double number => Float(random, number),
        bool boolean => boolean ? "true" : "false",
        OffsetDateTime odt => DateTimeText(random, odt.Clock) + OffsetText(random, odt.Offset),
        DateTime local => DateTimeText(random, local),
        DateOnly date => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        TimeOnly time => TimeText(time),
        List<object> items => "[" + Newline(random) + string.Join("," + (random.Next(2) == 0 ? Newline(random) : " "), items.Select(item => Value(random, item)))
            + (items.Count > 0 && random.Next(2) == 0 ? "," : string.Empty) + " # array comment" + Newline(random) + "]",
        Table table => InlineTable(random, table),
        TableArray array => "[" + string.Join(", ", array.Select(element => InlineTable(random, element))) + "]",
        _ => throw new InvalidOperationException(value.GetType().Name),
    };

    private string InlineTable(Random random, Table table) =>
        "{" + string.Join(",", table.Select(entry => " " + Key(random, entry.Key) + " = " + Value(random, entry.Value))) + (table.Count > 0 ? " " : string.Empty) + "}";

    private static string StringValue(Random random, string text)
    {
        var form = random.Next(4);
        if (form == 1 && CanBeLiteral(text, multiline: false))
        {
            return "'" + text + "'";
        }

        if (form == 2 && CanBeLiteral(text, multiline: true))
        {
            // A leading newline right after ''' would be trimmed: write one more so it survives.
            return "'''" + (text.StartsWith('\n') ? "\n" : string.Empty) + text + "'''";
        }

        if (form == 3)
        {
            return MultilineBasicString(random, text);
        }

        return BasicString(random, text);
    }

    private static bool CanBeLiteral(string text, bool multiline) =>
        !text.Contains('\'')
        && text.All(c => c == '\t' || (multiline && c == '\n') || (c >= ' ' && c != '\u007f'));

    private static string BasicString(Random random, string text)
    {
        var result = new StringBuilder("\"");
        foreach (var rune in text.EnumerateRunes())
        {
            result.Append(EscapeRune(random, rune, multiline: false));
        }

        return result.Append('"').ToString();
    }

    private static string MultilineBasicString(Random random, string text)
    {
        var result = new StringBuilder("\"\"\"");

        // A newline right after the opening quotes is trimmed: add one when the text itself starts with a
        // newline (which may be written raw), and sometimes anyway.
        if (text.StartsWith('\n') || random.Next(2) == 0)
        {
            result.Append('\n');
        }

        foreach (var rune in text.EnumerateRunes())
        {
            result.Append(EscapeRune(random, rune, multiline: true));
        }

        return result.Append("\"\"\"").ToString();
    }

    private static string EscapeRune(Random random, Rune rune, bool multiline)
    {
        var value = rune.Value;
        switch (value)
        {
            case '"':
                return "\\\"";
            case '\\':
                return "\\\\";
            case '\n':
                return multiline && random.Next(2) == 0 ? "\n" : "\\n";
            case '\t':
                return random.Next(2) == 0 ? "\t" : "\\t";
            case '\r':
                return "\\r";
            case '\b':
                return "\\b";
            case '\f':
                return "\\f";
        }

        if (value < 0x20 || value == 0x7f || random.Next(10) == 0)
        {
            return value > 0xFFFF || random.Next(4) == 0 ? $"\\U{value:X8}" : $"\\u{value:X4}";
        }

        return rune.ToString();
    }

    private static string Integer(Random random, long value)
    {
        if (value >= 0 && random.Next(3) == 0)
        {
            var (prefix, radix) = random.Next(3) switch
            {
                0 => ("0x", 16),
                1 => ("0o", 8),
                _ => ("0b", 2),
            };
            var digits = Convert.ToString(value, radix);
            return prefix + Underscores(random, radix == 16 && random.Next(2) == 0 ? digits.ToUpperInvariant() : digits);
        }

        var text = value.ToString(CultureInfo.InvariantCulture);
        var sign = text.StartsWith('-') ? "-" : value > 0 && random.Next(3) == 0 ? "+" : string.Empty;
        return sign + Underscores(random, text.TrimStart('-'));
    }

    private static string Underscores(Random random, string digits)
    {
        if (digits.Length < 2 || random.Next(2) == 0)
        {
            return digits;
        }

        var result = new StringBuilder();
        for (var i = 0; i < digits.Length; i++)
        {
            result.Append(digits[i]);
            if (i < digits.Length - 1 && random.Next(3) == 0)
            {
                result.Append('_');
            }
        }

        return result.ToString();
    }

    private static string Float(Random random, double value)
    {
        if (double.IsNaN(value))
        {
            return random.Next(3) switch { 0 => "nan", 1 => "+nan", _ => "-nan" };
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? (random.Next(2) == 0 ? "inf" : "+inf") : "-inf";
        }

        var text = value.ToString("R", CultureInfo.InvariantCulture);
        if (!text.Contains('.') && !text.Contains('E'))
        {
            text += ".0";
        }

        // "1E-05": TOML wants digits before an exponent; R gives them. Lower-case e half the time.
        return random.Next(2) == 0 ? text.Replace('E', 'e') : text;
    }

    private static string DateTimeText(Random random, DateTime clock)
    {
        var separator = random.Next(3) switch { 0 => "T", 1 => "t", _ => " " };
        return clock.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + separator + TimeText(TimeOnly.FromDateTime(clock));
    }

    private static string TimeText(TimeOnly time)
    {
        var text = time.ToString("HH:mm:ss", CultureInfo.InvariantCulture);
        var fraction = time.Ticks % TimeSpan.TicksPerSecond;
        return fraction == 0 ? text : text + "." + fraction.ToString("D7", CultureInfo.InvariantCulture);
    }

    private static string OffsetText(Random random, TimeSpan offset)
    {
        if (offset == TimeSpan.Zero && random.Next(2) == 0)
        {
            return random.Next(2) == 0 ? "Z" : "z";
        }

        var sign = offset < TimeSpan.Zero ? "-" : "+";
        var magnitude = offset.Duration();
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{magnitude.Hours:D2}:{magnitude.Minutes:D2}");
    }

    // ---- comparison ----

    /// <summary>Null when the parsed table holds exactly the model; else the path of the first difference.</summary>
    public static string? Difference(Table expected, TomlTable actual, string path = "$")
    {
        if (expected.Count != actual.Count)
        {
            return $"{path}: expected {expected.Count} keys [{string.Join(", ", expected.Select(e => e.Key))}], found {actual.Count} [{string.Join(", ", actual.Keys)}]";
        }

        foreach (var (key, value) in expected)
        {
            if (!actual.TryGetValue(key, out var parsed))
            {
                return $"{path}: key '{key}' is missing";
            }

            var difference = Difference(value, parsed, $"{path}.{key}");
            if (difference is not null)
            {
                return difference;
            }
        }

        return null;
    }

    private static string? Difference(object expected, TomlValue actual, string path)
    {
        switch (expected)
        {
            case Table table:
                return actual is TomlTable parsedTable ? Difference(table, parsedTable, path) : $"{path}: expected a table, found {actual.Kind}";
            case TableArray tables:
                if (actual is not TomlArray tableArray || tableArray.Count != tables.Count)
                {
                    return $"{path}: expected {tables.Count} tables, found {actual.Kind}";
                }

                for (var i = 0; i < tables.Count; i++)
                {
                    var difference = tableArray[i] is TomlTable element ? Difference(tables[i], element, $"{path}[{i}]") : $"{path}[{i}]: not a table";
                    if (difference is not null)
                    {
                        return difference;
                    }
                }

                return null;
            case List<object> items:
                if (actual is not TomlArray array || array.Count != items.Count)
                {
                    return $"{path}: expected an array of {items.Count}, found {actual.Kind}";
                }

                for (var i = 0; i < items.Count; i++)
                {
                    var difference = Difference(items[i], array[i], $"{path}[{i}]");
                    if (difference is not null)
                    {
                        return difference;
                    }
                }

                return null;
        }

        var equal = (expected, actual) switch
        {
            (string s, TomlString t) => s == t.Value,
            (long l, TomlInteger i) => l == i.Value,
            (double d, TomlFloat f) => double.IsNaN(d) ? double.IsNaN(f.Value) : d.Equals(f.Value) && double.IsNegative(d) == double.IsNegative(f.Value),
            (bool b, TomlBoolean t) => b == t.Value,
            (OffsetDateTime o, TomlOffsetDateTime t) => o.Clock == t.Clock && o.Offset == t.Offset,
            (DateTime d, TomlLocalDateTime t) => d == t.Value,
            (DateOnly d, TomlLocalDate t) => d == t.Value,
            (TimeOnly d, TomlLocalTime t) => d == t.Value,
            _ => false,
        };
        return equal ? null : $"{path}: expected {expected} ({expected.GetType().Name}), found {actual} ({actual.Kind})";
    }
}
