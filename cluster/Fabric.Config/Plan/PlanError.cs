using Fabric.Config.Model;

namespace Fabric.Config.Plan;

/// <summary>
/// A change the config asks for that the plan will not make (shrinking a volume, changing a network's
/// kind, a VM pinned to a node that has not joined). <see cref="Location"/> points at the config key
/// when there is one.
/// </summary>
public sealed record PlanError(string Kind, string Name, string Message, SourceLocation? Location)
{
    public override string ToString() =>
        Location is { } at ? $"{at}: {Kind} {Name}: {Message}" : $"{Kind} {Name}: {Message}";
}
