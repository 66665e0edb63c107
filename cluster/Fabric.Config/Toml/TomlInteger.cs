namespace Fabric.Config.Toml;

/// <summary>A 64-bit signed integer (decimal, hex, octal or binary in the text).</summary>
public sealed class TomlInteger(long value, TomlPosition position) : TomlValue(position)
{
    public long Value { get; } = value;

    public override TomlValueKind Kind => TomlValueKind.Integer;

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
