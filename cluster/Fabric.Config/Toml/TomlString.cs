namespace Fabric.Config.Toml;

/// <summary>A string value (any of the four TOML string forms, escapes already resolved).</summary>
public sealed class TomlString(string value, TomlPosition position) : TomlValue(position)
{
    public string Value { get; } = value;

    public override TomlValueKind Kind => TomlValueKind.String;

    public override string ToString() => Value;
}
