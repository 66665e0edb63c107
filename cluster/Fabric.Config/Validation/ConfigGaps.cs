namespace Fabric.Config.Validation;

/// <summary>
/// Entries that were declared in the file but left out of the model because they had errors. The
/// validator accepts references to them (the real error is already reported), so one typo does not
/// cascade into a page of "undefined" messages.
/// </summary>
public sealed class ConfigGaps
{
    public bool ClusterFailed { get; set; }

    public HashSet<string> Nodes { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Pools { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Volumes { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Networks { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Vms { get; } = new(StringComparer.Ordinal);
}
