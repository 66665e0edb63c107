namespace Fabric.Config.Toml;

/// <summary>
/// A place in a TOML text: 1-based line and 1-based column. Columns count Unicode scalar values (a
/// character outside the BMP counts once), which is what an editor shows.
/// </summary>
public readonly record struct TomlPosition(int Line, int Column)
{
    public override string ToString() => $"{Line}:{Column}";
}
