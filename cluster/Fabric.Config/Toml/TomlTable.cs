using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Fabric.Config.Toml;

/// <summary>
/// A table: keys in the order they were first written, each with the position of its key and value.
/// Read-only outside the parser.
/// </summary>
public sealed class TomlTable : TomlValue
{
    private readonly List<TomlKeyValue> _entries = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    internal TomlTable(TomlPosition position, TomlTableOrigin origin)
        : base(position)
    {
        Origin = origin;
    }

    public override TomlValueKind Kind => TomlValueKind.Table;

    /// <summary>True for <c>{ ... }</c> tables and tables written inside them.</summary>
    public bool IsInline => Origin == TomlTableOrigin.Inline;

    public int Count => _entries.Count;

    /// <summary>The entries in the order their keys were first written.</summary>
    public IReadOnlyList<TomlKeyValue> Entries => _entries;

    public IEnumerable<string> Keys => _entries.Select(entry => entry.Key);

    internal TomlTableOrigin Origin { get; set; }

    public TomlValue this[string key] =>
        TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"no key '{key}' in the table");

    public bool ContainsKey(string key) => _index.ContainsKey(key);

    public bool TryGetValue(string key, [NotNullWhen(true)] out TomlValue? value)
    {
        if (_index.TryGetValue(key, out var at))
        {
            value = _entries[at].Value;
            return true;
        }

        value = null;
        return false;
    }

    public bool TryGetEntry(string key, [NotNullWhen(true)] out TomlKeyValue? entry)
    {
        if (_index.TryGetValue(key, out var at))
        {
            entry = _entries[at];
            return true;
        }

        entry = null;
        return false;
    }

    internal void Add(string key, TomlPosition keyPosition, TomlValue value)
    {
        Debug.Assert(!_index.ContainsKey(key), "the parser checks for duplicate keys before adding");
        _index.Add(key, _entries.Count);
        _entries.Add(new TomlKeyValue(key, keyPosition, value));
    }
}
