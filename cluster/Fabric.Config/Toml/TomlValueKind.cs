namespace Fabric.Config.Toml;

/// <summary>The TOML 1.0 value types.</summary>
public enum TomlValueKind
{
    String,
    Integer,
    Float,
    Boolean,
    OffsetDateTime,
    LocalDateTime,
    LocalDate,
    LocalTime,
    Array,
    Table,
}
