using System.Globalization;
using System.Text;

namespace Fabric.Config.Toml;

/// <summary>
/// Splits TOML text into tokens. TOML is context sensitive (<c>1234</c> is a key before '=' and an
/// integer after it, <c>[[</c> opens an array-of-tables header but two nested arrays in a value), so the
/// parser asks for a token in key context (<see cref="NextKeyToken"/>) or value context
/// (<see cref="NextValueToken"/>). Both skip spaces, tabs and comments; neither skips newlines, which
/// are tokens. Every character is checked against TOML's rules here (control characters, bare CR,
/// escapes), so the parser only deals with structure. Errors throw <see cref="TomlException"/>.
/// </summary>
internal sealed class TomlLexer
{
    private readonly string _text;
    private readonly string _fileName;
    private int _index;
    private int _line = 1;
    private int _lineStart;

    public TomlLexer(string text, string fileName)
    {
        _text = text;
        _fileName = fileName;

        // A UTF-8 byte order mark may open the document; anywhere else it is an error.
        if (_text.Length > 0 && _text[0] == '\uFEFF')
        {
            _index = 1;
            _lineStart = 1;
        }
    }

    public string FileName => _fileName;

    /// <summary>The position of the next character to be read.</summary>
    public TomlPosition Position => PositionAt(_index);

    public TomlException Error(TomlPosition position, string reason) => new(_fileName, position, reason);

    /// <summary>Reads a token where a key, a header, or the end of a line is expected.</summary>
    public TomlToken NextKeyToken()
    {
        SkipBlanksAndComment();
        var start = Position;
        if (_index >= _text.Length)
        {
            return new TomlToken(TomlTokenKind.EndOfFile, string.Empty, start);
        }

        var c = _text[_index];
        switch (c)
        {
            case '\n':
            case '\r':
                ReadNewline();
                return new TomlToken(TomlTokenKind.Newline, "\n", start);
            case '=':
                _index++;
                return new TomlToken(TomlTokenKind.Equals, "=", start);
            case '.':
                _index++;
                return new TomlToken(TomlTokenKind.Dot, ".", start);
            case ',':
                _index++;
                return new TomlToken(TomlTokenKind.Comma, ",", start);
            case '{':
                _index++;
                return new TomlToken(TomlTokenKind.LeftBrace, "{", start);
            case '}':
                _index++;
                return new TomlToken(TomlTokenKind.RightBrace, "}", start);
            case '[':
                _index++;
                if (Peek() == '[')
                {
                    _index++;
                    return new TomlToken(TomlTokenKind.DoubleLeftBracket, "[[", start);
                }

                return new TomlToken(TomlTokenKind.LeftBracket, "[", start);
            case ']':
                _index++;
                if (Peek() == ']')
                {
                    _index++;
                    return new TomlToken(TomlTokenKind.DoubleRightBracket, "]]", start);
                }

                return new TomlToken(TomlTokenKind.RightBracket, "]", start);
            case '"':
            case '\'':
                return ReadString(start);
        }

        if (IsBareKeyChar(c))
        {
            var begin = _index;
            while (_index < _text.Length && IsBareKeyChar(_text[_index]))
            {
                _index++;
            }

            return new TomlToken(TomlTokenKind.BareKey, _text[begin.._index], start);
        }

        throw Error(start, $"unexpected {DescribeChar(_index)} where a key was expected (bare keys may use only A-Z a-z 0-9 _ -; quote other keys)");
    }

    /// <summary>Reads a token where a value (or an array/inline-table delimiter) is expected.</summary>
    public TomlToken NextValueToken()
    {
        SkipBlanksAndComment();
        var start = Position;
        if (_index >= _text.Length)
        {
            return new TomlToken(TomlTokenKind.EndOfFile, string.Empty, start);
        }

        var c = _text[_index];
        switch (c)
        {
            case '\n':
            case '\r':
                ReadNewline();
                return new TomlToken(TomlTokenKind.Newline, "\n", start);
            case ',':
                _index++;
                return new TomlToken(TomlTokenKind.Comma, ",", start);
            case '[':
                _index++;
                return new TomlToken(TomlTokenKind.LeftBracket, "[", start);
            case ']':
                _index++;
                return new TomlToken(TomlTokenKind.RightBracket, "]", start);
            case '{':
                _index++;
                return new TomlToken(TomlTokenKind.LeftBrace, "{", start);
            case '}':
                _index++;
                return new TomlToken(TomlTokenKind.RightBrace, "}", start);
            case '"':
            case '\'':
                return ReadString(start);
        }

        if (IsScalarChar(c))
        {
            return ReadScalar(start);
        }

        throw Error(start, $"unexpected {DescribeChar(_index)} where a value was expected");
    }

    private char Peek(int ahead = 0)
    {
        var at = _index + ahead;
        return at < _text.Length ? _text[at] : '\0';
    }

    private bool AtEnd(int ahead = 0) => _index + ahead >= _text.Length;

    private void SkipBlanksAndComment()
    {
        while (_index < _text.Length && (_text[_index] == ' ' || _text[_index] == '\t'))
        {
            _index++;
        }

        if (_index < _text.Length && _text[_index] == '#')
        {
            _index++;
            while (_index < _text.Length && _text[_index] != '\n')
            {
                var c = _text[_index];
                if (c == '\r')
                {
                    if (Peek(1) == '\n')
                    {
                        break;
                    }

                    throw Error(Position, "a carriage return (U+000D) in a comment must be followed by a line feed");
                }

                if (IsForbiddenControl(c))
                {
                    throw Error(Position, $"{DescribeChar(_index)} is not allowed in a comment");
                }

                _index++;
            }
        }
    }

    /// <summary>Consumes LF or CRLF; a CR alone is an error.</summary>
    private void ReadNewline()
    {
        if (_text[_index] == '\r')
        {
            if (Peek(1) != '\n')
            {
                throw Error(Position, "a carriage return (U+000D) must be followed by a line feed");
            }

            _index++;
        }

        _index++;
        _line++;
        _lineStart = _index;
    }

    private TomlToken ReadScalar(TomlPosition start)
    {
        var begin = _index;
        while (_index < _text.Length && IsScalarChar(_text[_index]))
        {
            _index++;
        }

        // A date and a time may be separated by one space ("1979-05-27 07:32:00Z"): join the two
        // words when the first is a full date and the second starts like a time.
        if (_index - begin == 10 && LooksLikeDate(begin) && Peek() == ' '
            && char.IsAsciiDigit(Peek(1)) && char.IsAsciiDigit(Peek(2)) && Peek(3) == ':')
        {
            _index++;
            while (_index < _text.Length && IsScalarChar(_text[_index]))
            {
                _index++;
            }
        }

        return new TomlToken(TomlTokenKind.Scalar, _text[begin.._index], start);
    }

    private bool LooksLikeDate(int at) =>
        char.IsAsciiDigit(_text[at]) && char.IsAsciiDigit(_text[at + 1]) && char.IsAsciiDigit(_text[at + 2])
        && char.IsAsciiDigit(_text[at + 3]) && _text[at + 4] == '-' && char.IsAsciiDigit(_text[at + 5])
        && char.IsAsciiDigit(_text[at + 6]) && _text[at + 7] == '-' && char.IsAsciiDigit(_text[at + 8])
        && char.IsAsciiDigit(_text[at + 9]);

    private TomlToken ReadString(TomlPosition start)
    {
        var quote = _text[_index];
        var multiline = Peek(1) == quote && Peek(2) == quote;
        if (multiline)
        {
            _index += 3;
            // A newline right after the opening delimiter is trimmed.
            if (Peek() == '\n' || (Peek() == '\r' && Peek(1) == '\n'))
            {
                ReadNewline();
            }

            return quote == '"'
                ? new TomlToken(TomlTokenKind.MultilineBasicString, ReadMultilineBasic(start), start)
                : new TomlToken(TomlTokenKind.MultilineLiteralString, ReadMultilineLiteral(start), start);
        }

        _index++;
        return quote == '"'
            ? new TomlToken(TomlTokenKind.BasicString, ReadBasic(start), start)
            : new TomlToken(TomlTokenKind.LiteralString, ReadLiteral(start), start);
    }

    private string ReadBasic(TomlPosition start)
    {
        var value = new StringBuilder();
        while (true)
        {
            if (AtEnd())
            {
                throw Error(start, "unterminated string: missing the closing '\"'");
            }

            var c = _text[_index];
            if (c == '"')
            {
                _index++;
                return value.ToString();
            }

            if (c == '\n' || c == '\r')
            {
                throw Error(Position, "a newline is not allowed in a single-line string (use \"\"\" for multi-line strings)");
            }

            if (c == '\\')
            {
                ReadEscape(value);
                continue;
            }

            if (IsForbiddenControl(c))
            {
                throw Error(Position, $"{DescribeChar(_index)} is not allowed in a string; write it as an escape");
            }

            value.Append(c);
            _index++;
        }
    }

    private string ReadLiteral(TomlPosition start)
    {
        var begin = _index;
        while (true)
        {
            if (AtEnd())
            {
                throw Error(start, "unterminated string: missing the closing \"'\"");
            }

            var c = _text[_index];
            if (c == '\'')
            {
                var value = _text[begin.._index];
                _index++;
                return value;
            }

            if (c == '\n' || c == '\r')
            {
                throw Error(Position, "a newline is not allowed in a single-line literal string (use ''' for multi-line strings)");
            }

            if (IsForbiddenControl(c))
            {
                throw Error(Position, $"{DescribeChar(_index)} is not allowed in a literal string");
            }

            _index++;
        }
    }

    private string ReadMultilineBasic(TomlPosition start)
    {
        var value = new StringBuilder();
        while (true)
        {
            if (AtEnd())
            {
                throw Error(start, "unterminated multi-line string: missing the closing '\"\"\"'");
            }

            var c = _text[_index];
            if (c == '"')
            {
                if (TryCloseMultiline('"', value))
                {
                    return value.ToString();
                }

                continue;
            }

            if (c == '\n' || c == '\r')
            {
                ReadNewline();
                value.Append('\n');
                continue;
            }

            if (c == '\\')
            {
                if (IsLineEndingBackslash())
                {
                    SkipLineEndingBackslash();
                    continue;
                }

                ReadEscape(value);
                continue;
            }

            if (IsForbiddenControl(c))
            {
                throw Error(Position, $"{DescribeChar(_index)} is not allowed in a string; write it as an escape");
            }

            value.Append(c);
            _index++;
        }
    }

    private string ReadMultilineLiteral(TomlPosition start)
    {
        var value = new StringBuilder();
        while (true)
        {
            if (AtEnd())
            {
                throw Error(start, "unterminated multi-line literal string: missing the closing \"'''\"");
            }

            var c = _text[_index];
            if (c == '\'')
            {
                if (TryCloseMultiline('\'', value))
                {
                    return value.ToString();
                }

                continue;
            }

            if (c == '\n' || c == '\r')
            {
                ReadNewline();
                value.Append('\n');
                continue;
            }

            if (IsForbiddenControl(c))
            {
                throw Error(Position, $"{DescribeChar(_index)} is not allowed in a literal string");
            }

            value.Append(c);
            _index++;
        }
    }

    /// <summary>
    /// At a run of quotes inside a multi-line string: one or two are content; three close the string,
    /// and up to two more right before them belong to the content ("""a"""" is 'a"'). Six or more is an
    /// error because the string would close and leave stray quotes.
    /// </summary>
    private bool TryCloseMultiline(char quote, StringBuilder value)
    {
        var run = 0;
        while (Peek(run) == quote)
        {
            run++;
        }

        if (run < 3)
        {
            value.Append(quote, run);
            _index += run;
            return false;
        }

        if (run > 5)
        {
            throw Error(PositionAt(_index + 5), $"too many {quote} characters: at most two may come right before the closing {new string(quote, 3)}");
        }

        value.Append(quote, run - 3);
        _index += run;
        return true;
    }

    private bool IsLineEndingBackslash()
    {
        // "\" followed by optional spaces/tabs and a newline.
        var at = _index + 1;
        while (at < _text.Length && (_text[at] == ' ' || _text[at] == '\t'))
        {
            at++;
        }

        return at < _text.Length && (_text[at] == '\n' || (_text[at] == '\r' && at + 1 < _text.Length && _text[at + 1] == '\n'));
    }

    private void SkipLineEndingBackslash()
    {
        _index++;
        while (_index < _text.Length)
        {
            var c = _text[_index];
            if (c == ' ' || c == '\t')
            {
                _index++;
            }
            else if (c == '\n' || c == '\r')
            {
                ReadNewline();
            }
            else
            {
                break;
            }
        }
    }

    private void ReadEscape(StringBuilder value)
    {
        var at = Position;
        _index++;
        if (AtEnd())
        {
            throw Error(at, "the string ends inside an escape sequence");
        }

        var c = _text[_index];
        _index++;
        switch (c)
        {
            case 'b': value.Append('\b'); return;
            case 't': value.Append('\t'); return;
            case 'n': value.Append('\n'); return;
            case 'f': value.Append('\f'); return;
            case 'r': value.Append('\r'); return;
            case '"': value.Append('"'); return;
            case '\\': value.Append('\\'); return;
            case 'u': value.Append(ReadUnicodeEscape(at, 4)); return;
            case 'U': value.Append(ReadUnicodeEscape(at, 8)); return;
        }

        _index--;
        throw Error(at, $"invalid escape sequence '\\{DescribeEscapeChar(c)}'; TOML 1.0 allows \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX");
    }

    private string ReadUnicodeEscape(TomlPosition at, int digits)
    {
        if (_index + digits > _text.Length)
        {
            throw Error(at, $"a \\{(digits == 4 ? 'u' : 'U')} escape needs {digits} hex digits");
        }

        var hex = _text.AsSpan(_index, digits);
        foreach (var h in hex)
        {
            if (!char.IsAsciiHexDigit(h))
            {
                throw Error(at, $"a \\{(digits == 4 ? 'u' : 'U')} escape needs {digits} hex digits, found '{hex}'");
            }
        }

        var code = uint.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
        {
            throw Error(at, $"escape U+{code:X4} is not a Unicode scalar value");
        }

        _index += digits;
        return char.ConvertFromUtf32((int)code);
    }

    private TomlPosition PositionAt(int index)
    {
        // Columns count scalar values: the low half of a surrogate pair does not start a new column.
        var column = 1;
        for (var i = _lineStart; i < index && i < _text.Length; i++)
        {
            if (!char.IsLowSurrogate(_text[i]))
            {
                column++;
            }
        }

        return new TomlPosition(_line, column);
    }

    private string DescribeChar(int index)
    {
        var c = _text[index];
        if (char.IsHighSurrogate(c) && index + 1 < _text.Length && char.IsLowSurrogate(_text[index + 1]))
        {
            return $"character U+{char.ConvertToUtf32(c, _text[index + 1]):X4}";
        }

        return c is >= ' ' and < '\u007F'
            ? $"character '{c}'"
            : $"character U+{(int)c:X4}";
    }

    private static string DescribeEscapeChar(char c) =>
        c is >= ' ' and < '\u007F' ? c.ToString() : $"U+{(int)c:X4}";

    /// <summary>Control characters TOML forbids in comments and strings: all but tab, plus DEL.</summary>
    private static bool IsForbiddenControl(char c) => (c < ' ' && c != '\t') || c == '\u007F';

    private static bool IsBareKeyChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-';

    private static bool IsScalarChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '+' or '.' or ':';
}
