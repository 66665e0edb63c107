using System.Text;
using Fabric.Config.Toml;

namespace Fabric.Config.Tests.Toml;

/// <summary>The parts of TOML 1.0 that are easy to get wrong, one rule per test.</summary>
public sealed class TomlReaderTests
{
    private static TomlTable Parse(string text) => TomlReader.Parse(text, "t.toml").Root;

    private static TomlException Reject(string text) => Assert.Throws<TomlException>(() => TomlReader.Parse(text, "t.toml"));

    private static TomlTable Table(TomlTable table, string key) => Assert.IsType<TomlTable>(table[key]);

    // ---- positions ----

    [Fact]
    public void KeysAndValuesKeepTheirLineAndColumn()
    {
        var root = Parse("# comment\r\n[server]\r\n  host = \"x\"\r\nport=  7000\n[[node]]\nname = 'n1'\n");
        var server = Table(root, "server");
        Assert.Equal(new TomlPosition(2, 1), server.Position);
        Assert.True(server.TryGetEntry("host", out var host));
        Assert.Equal(new TomlPosition(3, 3), host.KeyPosition);
        Assert.Equal(new TomlPosition(3, 10), host.Value.Position);
        Assert.True(server.TryGetEntry("port", out var port));
        Assert.Equal(new TomlPosition(4, 8), port.Value.Position);
        var node = Assert.IsType<TomlArray>(root["node"]);
        Assert.Equal(new TomlPosition(5, 1), node[0].Position);
        Assert.Equal(new TomlPosition(6, 8), Assert.IsType<TomlTable>(node[0])["name"].Position);
    }

    [Fact]
    public void ColumnsCountCharactersOutsideTheBmpOnce()
    {
        var root = Parse("k = 1 # 😀\n😀 = 1\n".Replace("😀 = 1", "\"😀\" = \"😀😀\""));
        Assert.True(root.TryGetEntry("😀", out var entry));
        Assert.Equal(new TomlPosition(2, 1), entry.KeyPosition);
        Assert.Equal(new TomlPosition(2, 7), entry.Value.Position);
        var error = Reject("a = \"😀😀\" x");
        Assert.Equal(1, error.Line);
        Assert.Equal(10, error.Column);
    }

    [Fact]
    public void ColumnsStayRightOnVeryLongLines()
    {
        // Columns are counted incrementally along a line; check they stay exact far along one and on the next.
        var elements = string.Join(",", Enumerable.Range(0, 100_000).Select(i => i % 10 == 0 ? "\"😀\"" : "1"));
        var text = "a = [" + elements + "]\nb = [1, 2, x]";
        var root = TomlReader.Parse(text[..text.IndexOf('\n')], "t.toml").Root;
        var array = Assert.IsType<TomlArray>(root["a"]);
        var last = array[^1].Position;
        var expectedColumn = "a = [".Length + elements.EnumerateRunes().Count() - 1 + 1;
        Assert.Equal(new TomlPosition(1, expectedColumn), last);
        var error = Reject(text);
        Assert.Equal(new TomlPosition(2, 12), error.Position);
        error = Reject("a = [" + elements + ", ?]");
        Assert.Equal(new TomlPosition(1, "a = [".Length + elements.EnumerateRunes().Count() + 3), error.Position);
    }

    [Fact]
    public void ErrorsNameFileLineAndColumn()
    {
        var error = Reject("a = 1\nb = 2\na = 3\n");
        Assert.Equal("t.toml", error.FileName);
        Assert.Equal(new TomlPosition(3, 1), error.Position);
        Assert.StartsWith("t.toml:3:1: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("duplicate key 'a'", error.Reason, StringComparison.Ordinal);
        Assert.Contains("1:1", error.Reason, StringComparison.Ordinal);
    }

    // ---- tables: who may define what ----

    [Fact]
    public void ImplicitTableMayBeDefinedLaterOnce()
    {
        var root = Parse("[a.b.c]\nx = 1\n[a]\ny = 2\n");
        Assert.Equal(2, Table(root, "a").Count);
        var error = Reject("[a.b.c]\n[a]\n[a]\n");
        Assert.Contains("already defined", error.Reason, StringComparison.Ordinal);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void DottedKeysMakeTablesThatHeadersCannotReopenButMayExtendBelow()
    {
        var root = Parse("[fruit]\napple.color = \"red\"\n[fruit.apple.texture]\nsmooth = true\n");
        var apple = Table(Table(root, "fruit"), "apple");
        Assert.Equal(2, apple.Count);
        var error = Reject("[fruit]\napple.color = \"red\"\n[fruit.apple]\n");
        Assert.Contains("dotted keys", error.Reason, StringComparison.Ordinal);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void DottedKeysCannotAddToATableDefinedByAHeader()
    {
        var error = Reject("[a.b]\nz = 1\n[a]\nb.y = 2\n");
        Assert.Contains("defined by a header", error.Reason, StringComparison.Ordinal);
        Assert.Equal(new TomlPosition(4, 1), error.Position);
    }

    [Fact]
    public void DottedKeysMayDefineAnImplicitTableWhichThenIsClosedToHeaders()
    {
        var root = Parse("[a.b.c]\n[a]\nb.x = 1\n");
        Assert.Equal(2, Table(Table(root, "a"), "b").Count);
        Reject("[a.b.c]\n[a]\nb.x = 1\n[a.b]\n");
    }

    [Fact]
    public void ArrayOfTablesAndTableDoNotMix()
    {
        Reject("[a]\n[[a]]\n");
        Reject("[[a]]\n[a]\n");
        Reject("a = []\n[[a]]\n");
        Reject("[[a.b]]\n[a]\nb.c = 1\n");
        var root = Parse("[[a]]\nx = 1\n[a.sub]\ny = 2\n[[a]]\nx = 3\n");
        var array = Assert.IsType<TomlArray>(root["a"]);
        Assert.True(array.IsArrayOfTables);
        Assert.Equal(2, array.Count);
        Assert.True(Assert.IsType<TomlTable>(array[0]).ContainsKey("sub"));
        Assert.False(Assert.IsType<TomlTable>(array[1]).ContainsKey("sub"));
    }

    [Fact]
    public void InlineTablesAreClosedForGood()
    {
        Reject("a = { b = 1 }\na.c = 2\n");
        Reject("a = { b = 1 }\n[a.c]\n");
        Reject("a = { b = { c = 1 } }\n[a.b.d]\n");
        Reject("a = { b = {}, b.c = 1 }\n");
        var root = Parse("a = { b.c = 1, b.d = 2 }\n");
        Assert.True(Table(root, "a").IsInline);
        Assert.Equal(2, Table(Table(root, "a"), "b").Count);
    }

    [Fact]
    public void InlineTablesStayOnOneLineWithoutTrailingComma()
    {
        Assert.Contains("one line", Reject("a = { b = 1,\n c = 2 }\n").Reason, StringComparison.Ordinal);
        Assert.Contains("trailing comma", Reject("a = { b = 1, }\n").Reason, StringComparison.Ordinal);
        var root = Parse("a = { b = [\n1,\n2], c = \"\"\"x\ny\"\"\" }\n");
        Assert.Equal(2, Assert.IsType<TomlArray>(Table(root, "a")["b"]).Count);
    }

    [Fact]
    public void ArraysMayMixTypesSpanLinesAndEndWithAComma()
    {
        var root = Parse("a = [ 1, 'two', [3.0], { four = 4 }, # comment\n\n 1979-05-27, ]\n");
        var array = Assert.IsType<TomlArray>(root["a"]);
        Assert.Equal(
            [TomlValueKind.Integer, TomlValueKind.String, TomlValueKind.Array, TomlValueKind.Table, TomlValueKind.LocalDate],
            array.Select(value => value.Kind));
        Reject("a = [1,,2]\n");
        Reject("a = [,]\n");
    }

    // ---- strings ----

    [Theory]
    [InlineData("s = \"\"\"a\"\"\"\"", "a\"")]
    [InlineData("s = \"\"\"a\"\"\"\"\"", "a\"\"")]
    [InlineData("s = '''a''''", "a'")]
    [InlineData("s = \"\"\"\nfirst\"\"\"", "first")]
    [InlineData("s = \"\"\"\r\nfirst\r\nsecond\"\"\"", "first\nsecond")]
    [InlineData("s = \"\"\"one \\\n   \n  two\"\"\"", "one two")]
    [InlineData("s = \"\"\"one \\   \r\n  two\"\"\"", "one two")]
    [InlineData("s = \"\\u00e9\\U0001F600\\t\\\\\"", "é😀\t\\")]
    [InlineData("s = 'C:\\path\\n'", "C:\\path\\n")]
    public void StringFormsDecode(string toml, string expected)
    {
        Assert.Equal(expected, Assert.IsType<TomlString>(Parse(toml)["s"]).Value);
    }

    [Theory]
    [InlineData("s = \"\"\"a\"\"\"\"\"\"", "too many")]
    [InlineData("s = \"\\x41\"", "invalid escape")]
    [InlineData("s = \"\\e\"", "invalid escape")]
    [InlineData("s = \"\\uD800\"", "not a Unicode scalar value")]
    [InlineData("s = \"a\u0001\"", "U+0001")]
    [InlineData("s = 'a\u007f'", "U+007F")]
    [InlineData("s = \"a\nb\"", "newline")]
    [InlineData("s = \"abc", "unterminated")]
    [InlineData("\"\"\"key\"\"\" = 1", "multi-line string cannot be a key")]
    public void BadStringsAreRejected(string toml, string reason)
    {
        Assert.Contains(reason, Reject(toml).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void BareCarriageReturnAndControlCharactersInCommentsAreRejected()
    {
        Reject("a = 1\r");
        Reject("a = 1 # x\ry\n");
        Reject("a = 1 # \u0000\n");
        Assert.Equal(1L, Assert.IsType<TomlInteger>(Parse("a = 1 # tab\there\r\n")["a"]).Value);
    }

    // ---- numbers ----

    [Theory]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    [InlineData("+1_000", 1000L)]
    [InlineData("0x7fff_ffff_ffff_ffff", long.MaxValue)]
    [InlineData("0o755", 493L)]
    [InlineData("0b1101", 13L)]
    [InlineData("0xDEADbeef", 0xDEADBEEFL)]
    public void IntegersDecode(string text, long expected)
    {
        Assert.Equal(expected, Assert.IsType<TomlInteger>(Parse("i = " + text)["i"]).Value);
    }

    [Theory]
    [InlineData("9223372036854775808")]
    [InlineData("-9223372036854775809")]
    [InlineData("0x8000000000000000")]
    [InlineData("0x1_0000_0000_0000_0000")]
    [InlineData("01")]
    [InlineData("1__0")]
    [InlineData("-0x1")]
    [InlineData("0X1")]
    public void BadIntegersAreRejected(string text)
    {
        Reject("i = " + text);
    }

    [Fact]
    public void FloatsKeepSignAndSpecialValues()
    {
        var root = Parse("a = -0.0\nb = +inf\nc = -nan\nd = 6.626e-34\ne = 1_000.5\nf = 1e06");
        Assert.True(double.IsNegative(Assert.IsType<TomlFloat>(root["a"]).Value));
        Assert.Equal(double.PositiveInfinity, Assert.IsType<TomlFloat>(root["b"]).Value);
        Assert.True(double.IsNaN(Assert.IsType<TomlFloat>(root["c"]).Value));
        Assert.Equal(6.626e-34, Assert.IsType<TomlFloat>(root["d"]).Value);
        Assert.Equal(1000.5, Assert.IsType<TomlFloat>(root["e"]).Value);
        Assert.Equal(1e6, Assert.IsType<TomlFloat>(root["f"]).Value);
    }

    [Fact]
    public void FloatsTooLargeForBinary64AreRejectedRatherThanMadeInfinite()
    {
        Assert.Contains("too large", Reject("f = 1e400").Reason, StringComparison.Ordinal);
    }

    // ---- dates and times ----

    [Fact]
    public void DateTimesDecodeToTheirFourKinds()
    {
        var root = Parse("a = 1979-05-27T07:32:00Z\nb = 1979-05-27 00:32:00.999999-07:00\nc = 1979-05-27t07:32:00\nd = 1979-05-27\ne = 00:32:00.5");
        var a = Assert.IsType<TomlOffsetDateTime>(root["a"]);
        Assert.Equal(TimeSpan.Zero, a.Offset);
        Assert.True(a.TryGetDateTimeOffset(out var instant));
        Assert.Equal(new DateTimeOffset(1979, 5, 27, 7, 32, 0, TimeSpan.Zero), instant);
        var b = Assert.IsType<TomlOffsetDateTime>(root["b"]);
        Assert.Equal(TimeSpan.FromHours(-7), b.Offset);
        Assert.Equal("1979-05-27T00:32:00.999999-07:00", b.ToString());
        Assert.Equal(new DateTime(1979, 5, 27, 7, 32, 0), Assert.IsType<TomlLocalDateTime>(root["c"]).Value);
        Assert.Equal(new DateOnly(1979, 5, 27), Assert.IsType<TomlLocalDate>(root["d"]).Value);
        Assert.Equal("00:32:00.500", Assert.IsType<TomlLocalTime>(root["e"]).ToString());
    }

    [Fact]
    public void FractionsFinerThanTicksAreTruncatedNotRounded()
    {
        var time = Assert.IsType<TomlLocalTime>(Parse("t = 00:00:00.123456789")["t"]);
        Assert.Equal(1_234_567, time.Value.Ticks);
    }

    [Fact]
    public void OffsetDateTimesAtTheEdgesOfTheRangeAreKept()
    {
        var early = Assert.IsType<TomlOffsetDateTime>(Parse("t = 0001-01-01T00:00:00+01:00")["t"]);
        Assert.False(early.TryGetDateTimeOffset(out _));
        Assert.Equal("0001-01-01T00:00:00+01:00", early.ToString());
    }

    [Theory]
    [InlineData("1979-02-29", "day 29")]
    [InlineData("1979-05-27T24:00:00", "hour 24")]
    [InlineData("1979-05-27T23:59:60Z", "leap seconds")]
    [InlineData("1979-05-27T07:32:00+24:00", "offset")]
    [InlineData("0000-01-01", "year 0000")]
    public void ImpossibleDatesAreRejectedWithTheReason(string text, string reason)
    {
        Assert.Contains(reason, Reject("d = " + text).Reason, StringComparison.Ordinal);
    }

    // ---- encoding and robustness ----

    [Fact]
    public void ByteOrderMarkIsAllowedOnlyAtTheStart()
    {
        var bom = Encoding.UTF8.GetPreamble();
        Assert.Equal(1L, Assert.IsType<TomlInteger>(TomlReader.Parse([.. bom, .. "a = 1"u8], "t.toml").Root["a"]).Value);
        Assert.Throws<TomlException>(() => TomlReader.Parse([.. "a = 1\n"u8, .. bom, .. "b = 2"u8], "t.toml"));
    }

    [Fact]
    public void InvalidUtf8IsReportedWhereItStarts()
    {
        byte[] bytes = [.. "a = 1\nbé = \""u8, 0xC3, 0x28, .. "\""u8];
        var error = Assert.Throws<TomlException>(() => TomlReader.Parse(bytes, "t.toml"));
        Assert.Equal(new TomlPosition(2, 7), error.Position);
        Assert.Contains("UTF-8", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DeepNestingIsAnErrorNotAStackOverflow()
    {
        var error = Reject("a = " + new string('[', 100_000));
        Assert.Contains("nested", error.Reason, StringComparison.Ordinal);
        Assert.Equal(1L, Assert.IsType<TomlInteger>(
            Assert.IsType<TomlArray>(Assert.IsType<TomlArray>(Parse("a = [[1]]")["a"])[0])[0]).Value);
    }

    [Fact]
    public void TryParseReturnsTheErrorAsAValue()
    {
        Assert.False(TomlReader.TryParse("a = ", "x.toml", out var document, out var error));
        Assert.Null(document);
        Assert.NotNull(error);
        Assert.Equal(1, error.Line);
        Assert.True(TomlReader.TryParse("a = 1", "x.toml", out document, out error));
        Assert.Null(error);
        Assert.Equal("x.toml", document!.FileName);
    }

    [Fact]
    public void UnquotedStringValuesGetAHint()
    {
        Assert.Contains("must be quoted", Reject("name = n1").Reason, StringComparison.Ordinal);
        Assert.Contains("true/false", Reject("b = True").Reason, StringComparison.Ordinal);
    }

    // ---- tagged JSON ----

    [Fact]
    public void TaggedJsonWritesScalarsAsToml_TestExpects()
    {
        var json = TomlTaggedJson.Convert("i = 0xff\nf = -inf\nn = nan\nd = 1987-07-05 17:45:56.6Z\nb = true\n[t]\ns = 'x'");
        using var document = System.Text.Json.JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal("integer", root.GetProperty("i").GetProperty("type").GetString());
        Assert.Equal("255", root.GetProperty("i").GetProperty("value").GetString());
        Assert.Equal("-inf", root.GetProperty("f").GetProperty("value").GetString());
        Assert.Equal("nan", root.GetProperty("n").GetProperty("value").GetString());
        Assert.Equal("1987-07-05T17:45:56.600Z", root.GetProperty("d").GetProperty("value").GetString());
        Assert.Equal("bool", root.GetProperty("b").GetProperty("type").GetString());
        Assert.Equal("x", root.GetProperty("t").GetProperty("s").GetProperty("value").GetString());
    }

    [Fact]
    public void TaggedJsonComparerSeesRealDifferences()
    {
        const string expected = """{"a": {"type": "datetime", "value": "1987-07-05T17:45:56.6Z"}, "b": [{"type": "float", "value": "-0"}]}""";
        Assert.Null(TaggedJsonComparer.Difference(expected, """{"b": [{"type": "float", "value": "-0.0"}], "a": {"type": "datetime", "value": "1987-07-05T17:45:56.600Z"}}"""));
        Assert.NotNull(TaggedJsonComparer.Difference(expected, """{"a": {"type": "datetime", "value": "1987-07-05T17:45:56.601Z"}, "b": [{"type": "float", "value": "-0"}]}"""));
        Assert.NotNull(TaggedJsonComparer.Difference(expected, """{"a": {"type": "datetime", "value": "1987-07-05T17:45:56.6Z"}, "b": [{"type": "float", "value": "0"}]}"""));
        Assert.NotNull(TaggedJsonComparer.Difference(expected, """{"a": {"type": "datetime-local", "value": "1987-07-05T17:45:56.6"}, "b": [{"type": "float", "value": "-0"}]}"""));
        Assert.NotNull(TaggedJsonComparer.Difference(expected, """{"a": {"type": "datetime", "value": "1987-07-05T17:45:56.6Z"}, "b": []}"""));
    }
}
