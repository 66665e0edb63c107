namespace Fabric.Config.Plan;

/// <summary>One line of a plan for people: <c>+ network overlay (vxlan 5001)</c>, <c>~ network lan: mtu 1500 -> 9000</c>.</summary>
public sealed record PlanLine(PlanAction Action, string Kind, string Name, string Detail)
{
    public string Symbol => Action switch
    {
        PlanAction.Create => "+",
        PlanAction.Update => "~",
        PlanAction.Delete => "-",
        PlanAction.Unchanged => "=",
        PlanAction.Kept => "?",
        PlanAction.Refused => "!",
        _ => "#",
    };

    /// <summary>Detail starting with '(' follows the name after a space; other detail after ": ".</summary>
    public override string ToString() =>
        Detail.Length == 0 ? $"{Symbol} {Kind} {Name}"
        : Detail.StartsWith('(') ? $"{Symbol} {Kind} {Name} {Detail}"
        : $"{Symbol} {Kind} {Name}: {Detail}";
}
