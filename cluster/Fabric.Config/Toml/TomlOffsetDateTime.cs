namespace Fabric.Config.Toml;

/// <summary>
/// An offset date-time (RFC 3339): the wall-clock time as written plus its UTC offset. Kept as the two
/// parts because the edges of the TOML range (0001-01-01T00:00:00+01:00) do not fit a DateTimeOffset.
/// Fractions finer than 100 ns are truncated, as the spec allows.
/// </summary>
public sealed class TomlOffsetDateTime(DateTime clock, TimeSpan offset, TomlPosition position) : TomlValue(position)
{
    /// <summary>The date and time as written (Kind = Unspecified).</summary>
    public DateTime Clock { get; } = DateTime.SpecifyKind(clock, DateTimeKind.Unspecified);

    public TimeSpan Offset { get; } = offset;

    public override TomlValueKind Kind => TomlValueKind.OffsetDateTime;

    /// <summary>The instant, unless it falls outside what DateTimeOffset can hold.</summary>
    public bool TryGetDateTimeOffset(out DateTimeOffset value)
    {
        var utcTicks = Clock.Ticks - Offset.Ticks;
        if (utcTicks < DateTime.MinValue.Ticks || utcTicks > DateTime.MaxValue.Ticks)
        {
            value = default;
            return false;
        }

        value = new DateTimeOffset(Clock, Offset);
        return true;
    }

    public override string ToString() => TomlDateTimeText.DateTime(Clock) + TomlDateTimeText.Offset(Offset);
}
