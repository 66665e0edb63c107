using System.Globalization;
using Fabric.Config.Model;
using Fabric.Config.Toml;
using Fabric.Config.Validation;
using Fabric.Core.Units;

namespace Fabric.Config.Loading;

/// <summary>
/// Reads the keys of one TOML table into model values, reporting every problem (missing key, wrong
/// type, bad format, out of range) as a <see cref="ConfigError"/> at the key's line and column. It
/// remembers which keys were asked for, so <see cref="ReportUnknownKeys"/> can flag the rest and suggest
/// the closest known key. Getters return null when the key is absent or wrong (the error is recorded).
/// </summary>
internal sealed class TableReader
{
    public delegate bool TryParser<T>(string text, out T value, out string? error);

    private readonly TomlTable _table;
    private readonly string _file;
    private readonly ConfigErrorList _errors;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);
    private readonly int _errorsAtStart;

    public TableReader(TomlTable table, string path, string file, ConfigErrorList errors)
    {
        _table = table;
        _file = file;
        _errors = errors;
        _errorsAtStart = errors.ErrorCount;
        Path = path;
    }

    public string Path { get; }

    public SourceLocation Location => Locate(_table.Position);

    /// <summary>True when an error was recorded since this reader was made (for this table or tables read through it).</summary>
    public bool HasErrors => _errors.ErrorCount > _errorsAtStart;

    public ConfigErrorList Errors => _errors;

    public string PathOf(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public SourceLocation At(string key) =>
        _table.TryGetValue(key, out var value) ? Locate(value.Position) : Location;

    public bool Has(string key)
    {
        _known.Add(key);
        return _table.ContainsKey(key);
    }

    /// <summary>The source record for the model: this table's path and the location of every key's value.</summary>
    public ConfigSource Source()
    {
        var keys = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var entry in _table.Entries)
        {
            keys[entry.Key] = Locate(entry.Value.Position);
        }

        return new ConfigSource(Path, Location, keys);
    }

    public void Error(string key, string message) => _errors.Error(At(key), PathOf(key), message);

    public void Warning(string key, string message) => _errors.Warning(At(key), PathOf(key), message);

    /// <summary>Flags every key nobody asked for, suggesting the closest known one.</summary>
    public void ReportUnknownKeys()
    {
        foreach (var entry in _table.Entries)
        {
            if (_known.Contains(entry.Key))
            {
                continue;
            }

            var suggestion = KeySuggester.Closest(entry.Key, _known);
            var hint = suggestion is null
                ? $"known keys here: {string.Join(", ", _known.Order(StringComparer.Ordinal))}"
                : $"did you mean '{suggestion}'?";
            _errors.Error(Locate(entry.KeyPosition), PathOf(entry.Key), $"unknown key '{entry.Key}'; {hint}");
        }
    }

    /// <summary>The key's string value without recording anything (null when absent or not a string).</summary>
    public string? PeekString(string key) => _table.TryGetValue(key, out var value) && value is TomlString text ? text.Value : null;

    // ---- typed getters ----

    public TomlValue? Value(string key, bool required, string expected)
    {
        _known.Add(key);
        if (_table.TryGetValue(key, out var value))
        {
            return value;
        }

        if (required)
        {
            _errors.Error(Location, PathOf(key), $"missing required key '{key}' ({expected})");
        }

        return null;
    }

    public string? String(string key, bool required = false, string expected = "a string")
    {
        var value = Value(key, required, expected);
        switch (value)
        {
            case null:
                return null;
            case TomlString text:
                return text.Value;
            default:
                Error(key, $"expected {expected}, found {Describe(value)}");
                return null;
        }
    }

    /// <summary>A string naming something (node, pool, ...): checked against <see cref="NameRules"/>.</summary>
    public string? Name(string key, bool required = false)
    {
        var name = String(key, required, $"a name: {NameRules.Expected}");
        if (name is not null && !NameRules.IsValidName(name))
        {
            Error(key, $"\"{name}\" is not a valid name; expected {NameRules.Expected}");
            return null;
        }

        return name;
    }

    public long? Integer(string key, long min, long max, bool required = false, string? expected = null)
    {
        expected ??= string.Create(CultureInfo.InvariantCulture, $"an integer from {min} to {max}");
        var value = Value(key, required, expected);
        switch (value)
        {
            case null:
                return null;
            case TomlInteger integer when integer.Value >= min && integer.Value <= max:
                return integer.Value;
            case TomlInteger integer:
                Error(key, $"expected {expected}, found {integer.Value.ToString(CultureInfo.InvariantCulture)}");
                return null;
            case TomlString text when long.TryParse(text.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _):
                Error(key, $"expected {expected}, found the string \"{text.Value}\" (remove the quotes)");
                return null;
            default:
                Error(key, $"expected {expected}, found {Describe(value)}");
                return null;
        }
    }

    public int? Int(string key, int min, int max, bool required = false, string? expected = null) =>
        (int?)Integer(key, min, max, required, expected);

    public bool? Boolean(string key, bool required = false)
    {
        var value = Value(key, required, "true or false");
        switch (value)
        {
            case null:
                return null;
            case TomlBoolean boolean:
                return boolean.Value;
            case TomlString { Value: "true" or "false" } text:
                Error(key, $"expected true or false, found the string \"{text.Value}\" (remove the quotes)");
                return null;
            default:
                Error(key, $"expected true or false, found {Describe(value)}");
                return null;
        }
    }

    /// <summary>A size: a string with a unit ("256MiB") or an integer number of bytes.</summary>
    public ByteSize? Size(string key, bool required = false)
    {
        var value = Value(key, required, ByteSize.Expected);
        switch (value)
        {
            case null:
                return null;
            case TomlInteger integer when integer.Value >= 0:
                return new ByteSize(integer.Value);
            case TomlString text when ByteSize.TryParse(text.Value, out var size, out var error):
                _ = error;
                return size;
            case TomlString text:
                ByteSize.TryParse(text.Value, out _, out var message);
                Error(key, message!);
                return null;
            default:
                Error(key, $"expected {ByteSize.Expected}, found {Describe(value)}");
                return null;
        }
    }

    /// <summary>A duration string ("500ms", "3s").</summary>
    public TimeSpan? Duration(string key, bool required = false)
    {
        var value = Value(key, required, DurationText.Expected);
        switch (value)
        {
            case null:
                return null;
            case TomlString text:
                if (DurationText.TryParse(text.Value, out var duration, out var error))
                {
                    return duration;
                }

                Error(key, error);
                return null;
            case TomlInteger integer:
                Error(key, $"expected {DurationText.Expected}, found the bare number {integer.Value.ToString(CultureInfo.InvariantCulture)} (add a unit, e.g. \"{integer.Value.ToString(CultureInfo.InvariantCulture)}ms\" or \"{integer.Value.ToString(CultureInfo.InvariantCulture)}s\")");
                return null;
            default:
                Error(key, $"expected {DurationText.Expected}, found {Describe(value)}");
                return null;
        }
    }

    /// <summary>A string parsed by <paramref name="parse"/>, whose error message is reported as is.</summary>
    public T? Parsed<T>(string key, TryParser<T> parse, string expected, bool required = false)
        where T : struct
    {
        var text = String(key, required, expected);
        if (text is null)
        {
            return null;
        }

        if (parse(text, out var value, out var error))
        {
            return value;
        }

        Error(key, error ?? $"expected {expected}, found \"{text}\"");
        return null;
    }

    /// <summary>As <see cref="Parsed{T}"/>, for reference types (IPAddress).</summary>
    public T? ParsedObject<T>(string key, TryParser<T> parse, string expected, bool required = false)
        where T : class
    {
        var text = String(key, required, expected);
        if (text is null)
        {
            return null;
        }

        if (parse(text, out var value, out var error))
        {
            return value;
        }

        Error(key, error ?? $"expected {expected}, found \"{text}\"");
        return null;
    }

    /// <summary>One of a fixed set of strings.</summary>
    public T? Choice<T>(string key, IReadOnlyList<(string Text, T Value)> choices, bool required = false)
        where T : struct
    {
        var expected = "one of " + string.Join(", ", choices.Select(choice => $"\"{choice.Text}\""));
        var text = String(key, required, expected);
        if (text is null)
        {
            return null;
        }

        foreach (var (choiceText, value) in choices)
        {
            if (choiceText == text)
            {
                return value;
            }
        }

        var caseInsensitive = choices.FirstOrDefault(choice => string.Equals(choice.Text, text, StringComparison.OrdinalIgnoreCase));
        var hint = caseInsensitive.Text is not null ? $" (values are lower case: \"{caseInsensitive.Text}\")" : string.Empty;
        Error(key, $"expected {expected}, found \"{text}\"{hint}");
        return null;
    }

    /// <summary>An array of strings, each with its location.</summary>
    public IReadOnlyList<(string Value, SourceLocation At)>? StringArray(string key, bool required = false, string expected = "an array of strings")
    {
        var value = Value(key, required, expected);
        switch (value)
        {
            case null:
                return null;
            case TomlArray array when !array.IsArrayOfTables:
                var items = new List<(string, SourceLocation)>(array.Count);
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is TomlString text)
                    {
                        items.Add((text.Value, Locate(text.Position)));
                    }
                    else
                    {
                        _errors.Error(Locate(array[i].Position), $"{PathOf(key)}[{i}]", $"expected a string, found {Describe(array[i])}");
                    }
                }

                return items;
            case TomlString text:
                Error(key, $"expected {expected}, found a single string; write [\"{text.Value}\"]");
                return null;
            default:
                Error(key, $"expected {expected}, found {Describe(value)}");
                return null;
        }
    }

    /// <summary>A sub-table (<c>[cluster.etcd]</c> or an inline table).</summary>
    public TableReader? Table(string key, bool required = false)
    {
        var value = Value(key, required, $"a [{PathOf(key)}] table");
        switch (value)
        {
            case null:
                return null;
            case TomlTable table:
                return new TableReader(table, PathOf(key), _file, _errors);
            default:
                Error(key, $"expected a [{PathOf(key)}] table, found {Describe(value)}");
                return null;
        }
    }

    /// <summary>An array of tables (<c>[[node]]</c> headers or an array of inline tables); element paths are <c>key[i]</c>.</summary>
    public IReadOnlyList<TableReader> Tables(string key, string tableName)
    {
        var value = Value(key, required: false, $"[[{tableName}]] tables");
        switch (value)
        {
            case null:
                return [];
            case TomlArray array:
                var readers = new List<TableReader>(array.Count);
                for (var i = 0; i < array.Count; i++)
                {
                    var elementPath = $"{PathOf(key)}[{i}]";
                    if (array[i] is TomlTable table)
                    {
                        readers.Add(new TableReader(table, elementPath, _file, _errors));
                    }
                    else
                    {
                        _errors.Error(Locate(array[i].Position), elementPath, $"expected a table (write [[{tableName}]] sections), found {Describe(array[i])}");
                    }
                }

                return readers;
            case TomlTable:
                Error(key, $"expected [[{tableName}]] (an array of tables: one [[{tableName}]] section per entry), found a single [{tableName}] table");
                return [];
            default:
                Error(key, $"expected [[{tableName}]] sections, found {Describe(value)}");
                return [];
        }
    }

    private SourceLocation Locate(TomlPosition position) => new(_file, position.Line, position.Column);

    /// <summary>"an integer (7000)", "the string \"abc\"", "a table".</summary>
    public static string Describe(TomlValue value) => value switch
    {
        TomlString text => $"the string \"{Shorten(text.Value)}\"",
        TomlInteger or TomlFloat or TomlBoolean => $"{value.KindDescription} ({value})",
        TomlArray array => array.IsArrayOfTables ? "an array of tables" : $"an array of {array.Count} element(s)",
        TomlTable => "a table",
        _ => $"{value.KindDescription} ({value})",
    };

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
