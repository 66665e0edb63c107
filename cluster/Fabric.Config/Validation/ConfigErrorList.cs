using Fabric.Config.Model;

namespace Fabric.Config.Validation;

/// <summary>Collects errors and warnings in the order they are found.</summary>
public sealed class ConfigErrorList
{
    private readonly List<ConfigError> _items = [];

    public IReadOnlyList<ConfigError> Items => _items;

    public int ErrorCount { get; private set; }

    public void Error(SourceLocation location, string keyPath, string message)
    {
        _items.Add(new ConfigError(ConfigSeverity.Error, location, keyPath, message));
        ErrorCount++;
    }

    public void Warning(SourceLocation location, string keyPath, string message) =>
        _items.Add(new ConfigError(ConfigSeverity.Warning, location, keyPath, message));

    /// <summary>An error about <paramref name="key"/> of an entry, located at that key's value.</summary>
    public void Error(ConfigSource source, string key, string message) => Error(source.At(key), source.PathOf(key), message);

    public void Warning(ConfigSource source, string key, string message) => Warning(source.At(key), source.PathOf(key), message);
}
