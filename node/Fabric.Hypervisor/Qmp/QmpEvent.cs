using System.Text.Json;

namespace Fabric.Hypervisor.Qmp;

/// <summary>An asynchronous QMP event ("MIGRATION", "STOP", "RESUME", "SHUTDOWN", ...).</summary>
/// <param name="Name">The event name as QEMU spells it.</param>
/// <param name="Data">The event's "data" member (an empty object when QEMU sent none).</param>
/// <param name="Timestamp">QEMU's own timestamp of the event.</param>
public sealed record QmpEvent(string Name, JsonElement Data, DateTimeOffset Timestamp)
{
    /// <summary>The string member <paramref name="name"/> of <see cref="Data"/>, or null.</summary>
    public string? DataString(string name) =>
        Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : null;

    /// <summary>The boolean member <paramref name="name"/> of <see cref="Data"/>, or null.</summary>
    public bool? DataBool(string name) =>
        Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? v.GetBoolean()
            : null;
}
