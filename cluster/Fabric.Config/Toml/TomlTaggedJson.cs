using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Fabric.Config.Toml;

/// <summary>
/// Converts TOML to the tagged JSON of the toml-test suite (github.com/toml-lang/toml-test): tables are
/// objects, arrays are arrays, and every scalar is <c>{"type": T, "value": "..."}</c> with T one of
/// string, integer, float, bool, datetime, datetime-local, date-local, time-local and the value written
/// as a string (integers in decimal; floats as round-trip decimals or inf, -inf, nan; date-times in
/// RFC 3339 form with a 'T' separator). This is how the suite checks a TOML decoder, and what
/// <c>fabric config toml-json</c> prints.
/// </summary>
public static class TomlTaggedJson
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Parses <paramref name="tomlText"/> and returns its tagged JSON; throws <see cref="TomlException"/> on invalid TOML.</summary>
    public static string Convert(string tomlText, string fileName = "<stdin>") =>
        ToJson(TomlReader.Parse(tomlText, fileName).Root);

    /// <summary>As <see cref="Convert(string, string)"/>, from UTF-8 bytes (invalid UTF-8 is rejected).</summary>
    public static string ConvertUtf8(ReadOnlySpan<byte> utf8, string fileName = "<stdin>") =>
        ToJson(TomlReader.Parse(utf8, fileName).Root);

    /// <summary>The tagged JSON of a table (normally a document's root).</summary>
    public static string ToJson(TomlTable table)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, WriterOptions))
        {
            Write(writer, table);
        }

        return System.Text.Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static void Write(Utf8JsonWriter writer, TomlValue value)
    {
        switch (value)
        {
            case TomlTable table:
                writer.WriteStartObject();
                foreach (var entry in table.Entries)
                {
                    writer.WritePropertyName(entry.Key);
                    Write(writer, entry.Value);
                }

                writer.WriteEndObject();
                break;
            case TomlArray array:
                writer.WriteStartArray();
                foreach (var item in array)
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            case TomlString text:
                WriteScalar(writer, "string", text.Value);
                break;
            case TomlInteger integer:
                WriteScalar(writer, "integer", integer.Value.ToString(CultureInfo.InvariantCulture));
                break;
            case TomlFloat number:
                WriteScalar(writer, "float", FormatFloat(number.Value));
                break;
            case TomlBoolean boolean:
                WriteScalar(writer, "bool", boolean.Value ? "true" : "false");
                break;
            case TomlOffsetDateTime offsetDateTime:
                WriteScalar(writer, "datetime", offsetDateTime.ToString());
                break;
            case TomlLocalDateTime localDateTime:
                WriteScalar(writer, "datetime-local", localDateTime.ToString());
                break;
            case TomlLocalDate localDate:
                WriteScalar(writer, "date-local", localDate.ToString());
                break;
            case TomlLocalTime localTime:
                WriteScalar(writer, "time-local", localTime.ToString());
                break;
            default:
                throw new InvalidOperationException($"unknown TOML value type {value.GetType().Name}");
        }
    }

    private static void WriteScalar(Utf8JsonWriter writer, string type, string text)
    {
        writer.WriteStartObject();
        writer.WriteString("type", type);
        writer.WriteString("value", text);
        writer.WriteEndObject();
    }

    internal static string FormatFloat(double value) => value switch
    {
        double.PositiveInfinity => "inf",
        double.NegativeInfinity => "-inf",
        _ when double.IsNaN(value) => "nan",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };
}
