using System.Text.Json;

namespace Fabric.Hypervisor.Qmp;

/// <summary>
/// The answer of query-migrate, on either side. QEMU leaves members out that do not apply yet (no "ram"
/// before setup ends, no "downtime" before completion): those read as 0 / null here.
/// Caveat kept by callers: right after "completed", total-time and downtime can still read 0; query again.
/// </summary>
public sealed record QmpMigrationInfo
{
    /// <summary>"none", "setup", "active", "pre-switchover", "device", "postcopy-active", "completed",
    /// "failed", "cancelling", "cancelled", ... ("" when QEMU reported no migration at all).</summary>
    public string Status { get; init; } = "";
    public long TotalTimeMs { get; init; }
    public long? DowntimeMs { get; init; }
    public long? ExpectedDowntimeMs { get; init; }
    public long SetupTimeMs { get; init; }
    public long RamTransferredBytes { get; init; }
    public long RamRemainingBytes { get; init; }
    public long RamTotalBytes { get; init; }
    /// <summary>Pages dirtied per second as QEMU measured it in the last pass.</summary>
    public long DirtyPagesRate { get; init; }
    public long DirtySyncCount { get; init; }
    public double ThroughputMbps { get; init; }
    public long PageSizeBytes { get; init; }
    public string? ErrorDescription { get; init; }
    /// <summary>Where a destination listens after migrate-incoming (port 0 is resolved to the real port).</summary>
    public IReadOnlyList<QmpSocketAddress> SocketAddresses { get; init; } = Array.Empty<QmpSocketAddress>();

    public bool IsTerminal => Status is "completed" or "failed" or "cancelled";

    public static QmpMigrationInfo Parse(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) return new QmpMigrationInfo();
        var ram = e.TryGetProperty("ram", out var r) && r.ValueKind == JsonValueKind.Object ? r : default;
        var addrs = new List<QmpSocketAddress>();
        if (e.TryGetProperty("socket-address", out var sa) && sa.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in sa.EnumerateArray())
            {
                addrs.Add(new QmpSocketAddress(Str(a, "type") ?? "", Str(a, "host") ?? Str(a, "path") ?? "",
                    int.TryParse(Str(a, "port"), out var port) ? port : 0));
            }
        }
        return new QmpMigrationInfo
        {
            Status = Str(e, "status") ?? "",
            TotalTimeMs = Int(e, "total-time") ?? 0,
            DowntimeMs = Int(e, "downtime"),
            ExpectedDowntimeMs = Int(e, "expected-downtime"),
            SetupTimeMs = Int(e, "setup-time") ?? 0,
            RamTransferredBytes = Int(ram, "transferred") ?? 0,
            RamRemainingBytes = Int(ram, "remaining") ?? 0,
            RamTotalBytes = Int(ram, "total") ?? 0,
            DirtyPagesRate = Int(ram, "dirty-pages-rate") ?? 0,
            DirtySyncCount = Int(ram, "dirty-sync-count") ?? 0,
            ThroughputMbps = ram.ValueKind == JsonValueKind.Object && ram.TryGetProperty("mbps", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetDouble() : 0,
            PageSizeBytes = Int(ram, "page-size") ?? 4096,
            ErrorDescription = Str(e, "error-desc"),
            SocketAddresses = addrs,
        };
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v)
            ? v.ValueKind switch { JsonValueKind.String => v.GetString(), JsonValueKind.Number => v.GetRawText(), _ => null }
            : null;

    private static long? Int(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;
}

/// <param name="Type">"inet" or "unix".</param>
public readonly record struct QmpSocketAddress(string Type, string Host, int Port);
