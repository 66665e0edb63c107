namespace Fabric.Config.Toml;

/// <summary>An IEEE 754 binary64 value, including inf and nan.</summary>
public sealed class TomlFloat(double value, TomlPosition position) : TomlValue(position)
{
    public double Value { get; } = value;

    public override TomlValueKind Kind => TomlValueKind.Float;

    public override string ToString() => Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
