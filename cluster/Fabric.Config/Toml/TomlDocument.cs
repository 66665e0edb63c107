namespace Fabric.Config.Toml;

/// <summary>A parsed TOML document: its root table and the name used in messages about it.</summary>
public sealed record TomlDocument(string FileName, TomlTable Root);
