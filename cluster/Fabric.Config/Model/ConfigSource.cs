namespace Fabric.Config.Model;

/// <summary>
/// Where a config entry came from: its key path (<c>node[1]</c>, <c>vm[0].nic[1]</c>), the location of
/// its table, and the location of each key's value. Validation and plan messages use it to point at the
/// exact line and column.
/// </summary>
public sealed class ConfigSource
{
    private readonly IReadOnlyDictionary<string, SourceLocation> _keys;

    public ConfigSource(string path, SourceLocation location, IReadOnlyDictionary<string, SourceLocation> keys)
    {
        Path = path;
        Location = location;
        _keys = keys;
    }

    /// <summary>The entry's key path, e.g. <c>network[1].acl[0]</c>; empty for the document root.</summary>
    public string Path { get; }

    /// <summary>Where the entry's table starts (its header, or the '{' of an inline table).</summary>
    public SourceLocation Location { get; }

    /// <summary>An entry made in code rather than read from a file.</summary>
    public static ConfigSource None { get; } = new(string.Empty, new SourceLocation("<none>", 0, 0), new Dictionary<string, SourceLocation>());

    /// <summary>Where the value of <paramref name="key"/> is written, or the table's location when the key is absent.</summary>
    public SourceLocation At(string key) => _keys.TryGetValue(key, out var location) ? location : Location;

    public bool Has(string key) => _keys.ContainsKey(key);

    /// <summary>The key path of one of the entry's keys: <c>node[1].grpc</c>.</summary>
    public string PathOf(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public override string ToString() => $"{Location} {Path}";
}
