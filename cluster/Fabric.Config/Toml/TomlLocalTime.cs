namespace Fabric.Config.Toml;

/// <summary>A time of day without date or offset.</summary>
public sealed class TomlLocalTime(TimeOnly value, TomlPosition position) : TomlValue(position)
{
    public TimeOnly Value { get; } = value;

    public override TomlValueKind Kind => TomlValueKind.LocalTime;

    public override string ToString() => TomlDateTimeText.Time(Value);
}
