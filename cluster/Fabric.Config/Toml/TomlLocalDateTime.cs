namespace Fabric.Config.Toml;

/// <summary>A date and time without an offset (Kind = Unspecified).</summary>
public sealed class TomlLocalDateTime(DateTime value, TomlPosition position) : TomlValue(position)
{
    public DateTime Value { get; } = DateTime.SpecifyKind(value, DateTimeKind.Unspecified);

    public override TomlValueKind Kind => TomlValueKind.LocalDateTime;

    public override string ToString() => TomlDateTimeText.DateTime(Value);
}
