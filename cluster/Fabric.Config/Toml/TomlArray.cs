using System.Collections;

namespace Fabric.Config.Toml;

/// <summary>
/// An array: a static array written as a value (<c>[1, "two"]</c>; TOML 1.0 allows mixed types), or an
/// array of tables built by <c>[[name]]</c> headers. Read-only outside the parser.
/// </summary>
public sealed class TomlArray : TomlValue, IReadOnlyList<TomlValue>
{
    private readonly List<TomlValue> _items = [];

    internal TomlArray(TomlPosition position, bool isArrayOfTables)
        : base(position)
    {
        IsArrayOfTables = isArrayOfTables;
    }

    /// <summary>True when the array was built by <c>[[name]]</c> headers (only those can be appended to).</summary>
    public bool IsArrayOfTables { get; }

    public override TomlValueKind Kind => TomlValueKind.Array;

    public int Count => _items.Count;

    public TomlValue this[int index] => _items[index];

    public IEnumerator<TomlValue> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    internal void Add(TomlValue value) => _items.Add(value);
}
