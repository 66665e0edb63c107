namespace Fabric.Config.Toml;

/// <summary>true or false.</summary>
public sealed class TomlBoolean(bool value, TomlPosition position) : TomlValue(position)
{
    public bool Value { get; } = value;

    public override TomlValueKind Kind => TomlValueKind.Boolean;

    public override string ToString() => Value ? "true" : "false";
}
