namespace Fabric.Config.Toml;

/// <summary>One entry of a table: the key (one segment, unescaped), where the key was written, and the value.</summary>
public sealed record TomlKeyValue(string Key, TomlPosition KeyPosition, TomlValue Value);
