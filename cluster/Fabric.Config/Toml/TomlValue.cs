namespace Fabric.Config.Toml;

/// <summary>
/// A TOML value and where it starts in the text. Scalars are immutable; arrays and tables are built by
/// the parser and read-only to everyone else.
/// </summary>
public abstract class TomlValue
{
    private protected TomlValue(TomlPosition position) => Position = position;

    /// <summary>Where the value starts (for a table: its header, or the first key that created it).</summary>
    public TomlPosition Position { get; }

    public abstract TomlValueKind Kind { get; }

    /// <summary>The name used in messages: "a string", "an integer", "a table", ...</summary>
    public string KindDescription => Describe(Kind);

    public static string Describe(TomlValueKind kind) => kind switch
    {
        TomlValueKind.String => "a string",
        TomlValueKind.Integer => "an integer",
        TomlValueKind.Float => "a float",
        TomlValueKind.Boolean => "a boolean",
        TomlValueKind.OffsetDateTime => "an offset date-time",
        TomlValueKind.LocalDateTime => "a local date-time",
        TomlValueKind.LocalDate => "a local date",
        TomlValueKind.LocalTime => "a local time",
        TomlValueKind.Array => "an array",
        TomlValueKind.Table => "a table",
        _ => kind.ToString(),
    };
}
