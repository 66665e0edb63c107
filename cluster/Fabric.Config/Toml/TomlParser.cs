using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Fabric.Config.Toml;

/// <summary>
/// Builds a <see cref="TomlDocument"/> from tokens, enforcing the TOML 1.0 rules about where things
/// may be defined:
/// <list type="bullet">
/// <item>a key is defined once per table; a table is defined by one <c>[header]</c> only;</item>
/// <item>a table made implicitly as a header's parent (<c>a</c> in <c>[a.b]</c>) may be defined later;</item>
/// <item>tables made by dotted keys cannot be reopened by a header (they may get sub-table headers);</item>
/// <item>dotted keys cannot add to a table defined by a header or to an array of tables;</item>
/// <item>inline tables and static arrays are closed once written;</item>
/// <item>inline tables fit on one line (TOML 1.0: no newlines, no trailing comma).</item>
/// </list>
/// </summary>
internal sealed partial class TomlParser
{
    /// <summary>Arrays and inline tables nest recursively; bound the depth so hostile input cannot overflow the stack.</summary>
    private const int MaxNesting = 256;

    private readonly TomlLexer _lexer;
    private readonly TomlTable _root = new(new TomlPosition(1, 1), TomlTableOrigin.Root);
    private int _depth;

    public TomlParser(string text, string fileName)
    {
        _lexer = new TomlLexer(text, fileName);
    }

    private readonly record struct KeySegment(string Name, TomlPosition Position);

    public TomlDocument Parse()
    {
        var current = _root;
        while (true)
        {
            var token = _lexer.NextKeyToken();
            switch (token.Kind)
            {
                case TomlTokenKind.EndOfFile:
                    return new TomlDocument(_lexer.FileName, _root);
                case TomlTokenKind.Newline:
                    continue;
                case TomlTokenKind.LeftBracket:
                    current = ParseTableHeader(token);
                    break;
                case TomlTokenKind.DoubleLeftBracket:
                    current = ParseArrayTableHeader(token);
                    break;
                default:
                    if (!token.IsKeySegment)
                    {
                        throw Error(token.Position, $"expected a key or a [table] header, found {token.Describe()}");
                    }

                    ParseKeyValue(current, token);
                    break;
            }

            ExpectEndOfLine();
        }
    }

    private TomlException Error(TomlPosition position, string reason) => _lexer.Error(position, reason);

    private void ExpectEndOfLine()
    {
        var token = _lexer.NextKeyToken();
        if (token.Kind is not (TomlTokenKind.Newline or TomlTokenKind.EndOfFile))
        {
            throw Error(token.Position, $"expected the end of the line, found {token.Describe()} (one key/value pair or header per line)");
        }
    }

    /// <summary>Reads a possibly dotted key; returns the segments and the token that ended it.</summary>
    private (List<KeySegment> Segments, TomlToken Terminator) ParseKey(TomlToken first)
    {
        var segments = new List<KeySegment>();
        var token = first;
        while (true)
        {
            if (!token.IsKeySegment)
            {
                var what = token.Kind is TomlTokenKind.MultilineBasicString or TomlTokenKind.MultilineLiteralString
                    ? "a multi-line string cannot be a key"
                    : $"expected a key, found {token.Describe()}";
                throw Error(token.Position, what);
            }

            segments.Add(new KeySegment(token.Text, token.Position));
            token = _lexer.NextKeyToken();
            if (token.Kind != TomlTokenKind.Dot)
            {
                return (segments, token);
            }

            token = _lexer.NextKeyToken();
        }
    }

    private static string Join(IEnumerable<KeySegment> segments) =>
        string.Join('.', segments.Select(segment => FormatKey(segment.Name)));

    /// <summary>Writes a key segment as it would appear in TOML: bare when possible, else quoted.</summary>
    internal static string FormatKey(string name) =>
        name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
            ? name
            : "\"" + name.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    // ---- headers ----

    private TomlTable ParseTableHeader(TomlToken open)
    {
        var (segments, close) = ParseKey(_lexer.NextKeyToken());
        if (close.Kind != TomlTokenKind.RightBracket)
        {
            throw Error(close.Position, $"expected ']' to close the table header, found {close.Describe()}");
        }

        var parent = WalkHeaderParents(segments);
        var last = segments[^1];
        var path = Join(segments);
        if (parent.TryGetEntry(last.Name, out var existing))
        {
            switch (existing.Value)
            {
                case TomlTable { Origin: TomlTableOrigin.Implicit } table:
                    table.Origin = TomlTableOrigin.Header;
                    return table;
                case TomlTable { Origin: TomlTableOrigin.Dotted } table:
                    throw Error(open.Position, $"table [{path}] was already defined by dotted keys at {table.Position}; a header cannot reopen it");
                case TomlTable { Origin: TomlTableOrigin.Inline } table:
                    throw Error(open.Position, $"table [{path}] is an inline table (at {table.Position}); inline tables cannot be extended");
                case TomlTable table:
                    throw Error(open.Position, $"table [{path}] is already defined at {table.Position}");
                case TomlArray { IsArrayOfTables: true } array:
                    throw Error(open.Position, $"[{path}] is an array of tables (first at {array.Position}); write [[{path}]] to add an element");
                default:
                    throw Error(open.Position, $"cannot define table [{path}]: key '{path}' already has {existing.Value.KindDescription} value at {existing.KeyPosition}");
            }
        }

        var created = new TomlTable(open.Position, TomlTableOrigin.Header);
        parent.Add(last.Name, last.Position, created);
        return created;
    }

    private TomlTable ParseArrayTableHeader(TomlToken open)
    {
        var (segments, close) = ParseKey(_lexer.NextKeyToken());
        if (close.Kind != TomlTokenKind.DoubleRightBracket)
        {
            throw Error(close.Position, $"expected ']]' to close the array-of-tables header, found {close.Describe()}");
        }

        var parent = WalkHeaderParents(segments);
        var last = segments[^1];
        var path = Join(segments);
        var element = new TomlTable(open.Position, TomlTableOrigin.ArrayElement);
        if (parent.TryGetEntry(last.Name, out var existing))
        {
            if (existing.Value is TomlArray { IsArrayOfTables: true } array)
            {
                array.Add(element);
                return element;
            }

            var what = existing.Value switch
            {
                TomlArray => $"'{path}' is a static array (at {existing.Value.Position}); it cannot be extended with [[{path}]]",
                TomlTable table => $"'{path}' is already a table (at {table.Position}), not an array of tables",
                _ => $"key '{path}' already has {existing.Value.KindDescription} value at {existing.KeyPosition}",
            };
            throw Error(open.Position, what);
        }

        var created = new TomlArray(open.Position, isArrayOfTables: true);
        created.Add(element);
        parent.Add(last.Name, last.Position, created);
        return element;
    }

    /// <summary>
    /// Walks (creating implicitly where missing) the tables named by all but the last segment of a
    /// header. An array of tables on the way means its most recent element.
    /// </summary>
    private TomlTable WalkHeaderParents(List<KeySegment> segments)
    {
        var table = _root;
        for (var i = 0; i < segments.Count - 1; i++)
        {
            var segment = segments[i];
            if (!table.TryGetEntry(segment.Name, out var existing))
            {
                var created = new TomlTable(segment.Position, TomlTableOrigin.Implicit);
                table.Add(segment.Name, segment.Position, created);
                table = created;
                continue;
            }

            var path = Join(segments.Take(i + 1));
            switch (existing.Value)
            {
                case TomlTable { Origin: TomlTableOrigin.Inline } inline:
                    throw Error(segment.Position, $"'{path}' is an inline table (at {inline.Position}); inline tables cannot be extended");
                case TomlTable next:
                    table = next;
                    break;
                case TomlArray { IsArrayOfTables: true } array:
                    Debug.Assert(array.Count > 0, "an array of tables is created with its first element");
                    table = (TomlTable)array[^1];
                    break;
                case TomlArray array:
                    throw Error(segment.Position, $"'{path}' is a static array (at {array.Position}); tables inside it cannot be extended");
                default:
                    throw Error(segment.Position, $"'{path}' already has {existing.Value.KindDescription} value at {existing.KeyPosition}, so it cannot hold a table");
            }
        }

        return table;
    }

    // ---- key/value pairs ----

    private void ParseKeyValue(TomlTable table, TomlToken first)
    {
        var (segments, equals) = ParseKey(first);
        if (equals.Kind != TomlTokenKind.Equals)
        {
            throw Error(equals.Position, $"expected '=' after the key '{Join(segments)}', found {equals.Describe()}");
        }

        var valueToken = _lexer.NextValueToken();
        if (valueToken.Kind is TomlTokenKind.Newline or TomlTokenKind.EndOfFile)
        {
            throw Error(valueToken.Position, $"expected a value after '{Join(segments)} =', found {valueToken.Describe()}");
        }

        var value = ParseValue(valueToken);
        Insert(table, segments, value);
    }

    /// <summary>Adds <paramref name="value"/> under a dotted key, creating the intermediate tables.</summary>
    private void Insert(TomlTable table, List<KeySegment> segments, TomlValue value)
    {
        for (var i = 0; i < segments.Count - 1; i++)
        {
            var segment = segments[i];
            if (!table.TryGetEntry(segment.Name, out var existing))
            {
                var created = new TomlTable(segment.Position, TomlTableOrigin.Dotted);
                table.Add(segment.Name, segment.Position, created);
                table = created;
                continue;
            }

            var path = Join(segments.Take(i + 1));
            switch (existing.Value)
            {
                case TomlTable { Origin: TomlTableOrigin.Dotted } next:
                    table = next;
                    break;
                case TomlTable { Origin: TomlTableOrigin.Implicit } next:
                    // Made as a header's parent and never defined: dotted keys define it now, and a
                    // later header may no longer.
                    next.Origin = TomlTableOrigin.Dotted;
                    table = next;
                    break;
                case TomlTable { Origin: TomlTableOrigin.Inline } next:
                    throw Error(segment.Position, $"'{path}' is an inline table (at {next.Position}); inline tables cannot be extended");
                case TomlTable next:
                    throw Error(segment.Position, $"table '{path}' is defined by a header (at {next.Position}); dotted keys cannot add to it from here");
                case TomlArray { IsArrayOfTables: true } array:
                    throw Error(segment.Position, $"'{path}' is an array of tables (at {array.Position}); dotted keys cannot add to it");
                default:
                    throw Error(segment.Position, $"'{path}' already has {existing.Value.KindDescription} value (at {existing.KeyPosition}), so it cannot hold key '{FormatKey(segments[i + 1].Name)}'");
            }
        }

        var last = segments[^1];
        if (table.TryGetEntry(last.Name, out var duplicate))
        {
            throw Error(last.Position, $"duplicate key '{Join(segments)}': already defined at {duplicate.KeyPosition}");
        }

        table.Add(last.Name, last.Position, value);
    }

    // ---- values ----

    private TomlValue ParseValue(TomlToken token)
    {
        switch (token.Kind)
        {
            case TomlTokenKind.BasicString:
            case TomlTokenKind.LiteralString:
            case TomlTokenKind.MultilineBasicString:
            case TomlTokenKind.MultilineLiteralString:
                return new TomlString(token.Text, token.Position);
            case TomlTokenKind.Scalar:
                return ParseScalar(token);
            case TomlTokenKind.LeftBracket:
                return ParseArray(token);
            case TomlTokenKind.LeftBrace:
                return ParseInlineTable(token);
            default:
                throw Error(token.Position, $"expected a value, found {token.Describe()}");
        }
    }

    private void Enter(TomlPosition position)
    {
        if (++_depth > MaxNesting)
        {
            throw Error(position, $"arrays and inline tables are nested more than {MaxNesting} deep");
        }
    }

    private TomlArray ParseArray(TomlToken open)
    {
        Enter(open.Position);
        var array = new TomlArray(open.Position, isArrayOfTables: false);
        while (true)
        {
            // Newlines and comments may appear anywhere between the elements.
            var token = NextValueTokenSkippingNewlines(open);
            if (token.Kind == TomlTokenKind.RightBracket)
            {
                break;
            }

            array.Add(ParseValue(token));
            var after = NextValueTokenSkippingNewlines(open);
            if (after.Kind == TomlTokenKind.RightBracket)
            {
                break;
            }

            if (after.Kind != TomlTokenKind.Comma)
            {
                throw Error(after.Position, $"expected ',' or ']' after an array element, found {after.Describe()}");
            }
        }

        _depth--;
        return array;
    }

    private TomlToken NextValueTokenSkippingNewlines(TomlToken open)
    {
        while (true)
        {
            var token = _lexer.NextValueToken();
            if (token.Kind == TomlTokenKind.Newline)
            {
                continue;
            }

            if (token.Kind == TomlTokenKind.EndOfFile)
            {
                throw Error(open.Position, "unterminated array: missing the closing ']'");
            }

            return token;
        }
    }

    private TomlTable ParseInlineTable(TomlToken open)
    {
        Enter(open.Position);
        var table = new TomlTable(open.Position, TomlTableOrigin.Dotted);
        var token = NextInlineToken(open);
        if (token.Kind != TomlTokenKind.RightBrace)
        {
            while (true)
            {
                ParseKeyValue(table, token);
                var after = NextInlineToken(open);
                if (after.Kind == TomlTokenKind.RightBrace)
                {
                    break;
                }

                if (after.Kind != TomlTokenKind.Comma)
                {
                    throw Error(after.Position, $"expected ',' or '}}' in the inline table, found {after.Describe()}");
                }

                token = NextInlineToken(open);
                if (token.Kind == TomlTokenKind.RightBrace)
                {
                    throw Error(token.Position, "a trailing comma is not allowed in an inline table (TOML 1.0)");
                }
            }
        }

        // Closed for good: neither headers nor dotted keys may add to it or to tables inside it.
        Freeze(table);
        _depth--;
        return table;
    }

    private TomlToken NextInlineToken(TomlToken open)
    {
        var token = _lexer.NextKeyToken();
        return token.Kind switch
        {
            TomlTokenKind.Newline => throw Error(token.Position, "an inline table must be on one line (TOML 1.0); use a [table] header for longer tables"),
            TomlTokenKind.EndOfFile => throw Error(open.Position, "unterminated inline table: missing the closing '}'"),
            _ => token,
        };
    }

    private static void Freeze(TomlTable table)
    {
        table.Origin = TomlTableOrigin.Inline;
        foreach (var entry in table.Entries)
        {
            if (entry.Value is TomlTable inner)
            {
                Freeze(inner);
            }
        }
    }

    // ---- scalars ----

    [GeneratedRegex(@"^[+-]?(?:0|[1-9](?:_?[0-9])*)$", RegexOptions.CultureInvariant)]
    private static partial Regex DecimalInteger();

    [GeneratedRegex(@"^0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*$", RegexOptions.CultureInvariant)]
    private static partial Regex HexInteger();

    [GeneratedRegex(@"^0o[0-7](?:_?[0-7])*$", RegexOptions.CultureInvariant)]
    private static partial Regex OctalInteger();

    [GeneratedRegex(@"^0b[01](?:_?[01])*$", RegexOptions.CultureInvariant)]
    private static partial Regex BinaryInteger();

    [GeneratedRegex(@"^[+-]?(?:0|[1-9](?:_?[0-9])*)(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DecimalFloat();

    [GeneratedRegex(@"^(?<year>[0-9]{4})-(?<month>[0-9]{2})-(?<day>[0-9]{2})(?:[Tt ](?<hour>[0-9]{2}):(?<minute>[0-9]{2}):(?<second>[0-9]{2})(?:\.(?<fraction>[0-9]+))?(?<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DateTimeText();

    [GeneratedRegex(@"^(?<hour>[0-9]{2}):(?<minute>[0-9]{2}):(?<second>[0-9]{2})(?:\.(?<fraction>[0-9]+))?$", RegexOptions.CultureInvariant)]
    private static partial Regex TimeText();

    private TomlValue ParseScalar(TomlToken token)
    {
        var text = token.Text;
        var at = token.Position;
        switch (text)
        {
            case "true":
                return new TomlBoolean(true, at);
            case "false":
                return new TomlBoolean(false, at);
            case "inf" or "+inf":
                return new TomlFloat(double.PositiveInfinity, at);
            case "-inf":
                return new TomlFloat(double.NegativeInfinity, at);
            case "nan" or "+nan" or "-nan":
                return new TomlFloat(double.NaN, at);
        }

        if (DecimalInteger().IsMatch(text))
        {
            if (!long.TryParse(text.Replace("_", string.Empty), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                throw Error(at, $"integer {text} does not fit in 64 bits (range {long.MinValue} to {long.MaxValue})");
            }

            return new TomlInteger(value, at);
        }

        if (HexInteger().IsMatch(text))
        {
            return new TomlInteger(ParseRadix(text, 16, at), at);
        }

        if (OctalInteger().IsMatch(text))
        {
            return new TomlInteger(ParseRadix(text, 8, at), at);
        }

        if (BinaryInteger().IsMatch(text))
        {
            return new TomlInteger(ParseRadix(text, 2, at), at);
        }

        if (DecimalFloat().IsMatch(text))
        {
            var value = double.Parse(text.Replace("_", string.Empty), NumberStyles.Float, CultureInfo.InvariantCulture);
            if (double.IsInfinity(value))
            {
                throw Error(at, $"float {text} is too large for a 64-bit float");
            }

            return new TomlFloat(value, at);
        }

        var dateTime = DateTimeText().Match(text);
        if (dateTime.Success)
        {
            return ParseDateTime(dateTime, at);
        }

        var time = TimeText().Match(text);
        if (time.Success)
        {
            return new TomlLocalTime(ParseTime(time, at), at);
        }

        throw Error(at, DescribeBadScalar(text));
    }

    private long ParseRadix(string text, int radix, TomlPosition at)
    {
        ulong value = 0;
        foreach (var c in text.AsSpan(2))
        {
            if (c == '_')
            {
                continue;
            }

            var digit = (ulong)(char.IsAsciiDigit(c) ? c - '0' : (char.ToLowerInvariant(c) - 'a') + 10);
            if (value > (ulong.MaxValue - digit) / (ulong)radix)
            {
                throw Error(at, $"integer {text} does not fit in 64 bits");
            }

            value = (value * (ulong)radix) + digit;
        }

        if (value > long.MaxValue)
        {
            throw Error(at, $"integer {text} does not fit in a signed 64-bit integer (largest is 0x7fffffffffffffff)");
        }

        return (long)value;
    }

    private TomlValue ParseDateTime(Match match, TomlPosition at)
    {
        var year = int.Parse(match.Groups["year"].ValueSpan, CultureInfo.InvariantCulture);
        var month = int.Parse(match.Groups["month"].ValueSpan, CultureInfo.InvariantCulture);
        var day = int.Parse(match.Groups["day"].ValueSpan, CultureInfo.InvariantCulture);
        if (year < 1)
        {
            throw Error(at, "year 0000 is not supported (dates start at 0001-01-01)");
        }

        if (month is < 1 or > 12)
        {
            throw Error(at, $"month {month:D2} is out of range (01 to 12)");
        }

        if (day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            throw Error(at, $"day {day:D2} is out of range for {year:D4}-{month:D2} (01 to {DateTime.DaysInMonth(year, month):D2})");
        }

        var date = new DateOnly(year, month, day);
        if (!match.Groups["hour"].Success)
        {
            return new TomlLocalDate(date, at);
        }

        var time = ParseTime(match, at);
        var clock = date.ToDateTime(time, DateTimeKind.Unspecified);
        var offset = match.Groups["offset"];
        if (!offset.Success)
        {
            return new TomlLocalDateTime(clock, at);
        }

        if (offset.Value is "Z" or "z")
        {
            return new TomlOffsetDateTime(clock, TimeSpan.Zero, at);
        }

        var offsetHours = int.Parse(offset.ValueSpan.Slice(1, 2), CultureInfo.InvariantCulture);
        var offsetMinutes = int.Parse(offset.ValueSpan.Slice(4, 2), CultureInfo.InvariantCulture);
        if (offsetHours > 23 || offsetMinutes > 59)
        {
            throw Error(at, $"time offset {offset.Value} is out of range (-23:59 to +23:59)");
        }

        var span = new TimeSpan(offsetHours, offsetMinutes, 0);
        return new TomlOffsetDateTime(clock, offset.Value[0] == '-' ? -span : span, at);
    }

    private TimeOnly ParseTime(Match match, TomlPosition at)
    {
        var hour = int.Parse(match.Groups["hour"].ValueSpan, CultureInfo.InvariantCulture);
        var minute = int.Parse(match.Groups["minute"].ValueSpan, CultureInfo.InvariantCulture);
        var second = int.Parse(match.Groups["second"].ValueSpan, CultureInfo.InvariantCulture);
        if (hour > 23)
        {
            throw Error(at, $"hour {hour:D2} is out of range (00 to 23)");
        }

        if (minute > 59)
        {
            throw Error(at, $"minute {minute:D2} is out of range (00 to 59)");
        }

        if (second == 60)
        {
            throw Error(at, "leap seconds (second 60) are not supported");
        }

        if (second > 59)
        {
            throw Error(at, $"second {second:D2} is out of range (00 to 59)");
        }

        long fractionTicks = 0;
        var fraction = match.Groups["fraction"];
        if (fraction.Success)
        {
            // 100 ns resolution: digits past the seventh are truncated, as the spec asks.
            var digits = fraction.Value.Length > 7 ? fraction.Value[..7] : fraction.Value.PadRight(7, '0');
            fractionTicks = long.Parse(digits, CultureInfo.InvariantCulture);
        }

        return new TimeOnly(hour, minute, second).Add(TimeSpan.FromTicks(fractionTicks));
    }

    private static string DescribeBadScalar(string text)
    {
        if (text.Length > 0 && char.IsAsciiLetter(text[0]) && !text.Contains(':'))
        {
            return $"invalid value '{text}': strings must be quoted (\"{text}\"); booleans are true/false, lower case";
        }

        return $"invalid value '{text}': not a valid TOML number, boolean, date or time";
    }
}
