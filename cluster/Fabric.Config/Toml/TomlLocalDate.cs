namespace Fabric.Config.Toml;

/// <summary>A calendar date without time or offset.</summary>
public sealed class TomlLocalDate(DateOnly value, TomlPosition position) : TomlValue(position)
{
    public DateOnly Value { get; } = value;

    public override TomlValueKind Kind => TomlValueKind.LocalDate;

    public override string ToString() => TomlDateTimeText.Date(Value);
}
