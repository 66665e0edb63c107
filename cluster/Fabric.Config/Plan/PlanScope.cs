namespace Fabric.Config.Plan;

/// <summary>
/// What to plan: which kinds of entries, whether entries that are in the map but not in the config are
/// deleted (<see cref="Prune"/>; off by default, they are only listed), and how VM images become boot
/// files (<see cref="Boot"/>).
/// </summary>
public sealed record PlanScope
{
    public static PlanScope Default { get; } = new();

    public PlanKinds Kinds { get; init; } = PlanKinds.All;

    public bool Prune { get; init; }

    public VmBootOptions Boot { get; init; } = VmBootOptions.Default;

    public bool Includes(PlanKinds kind) => (Kinds & kind) == kind;
}
