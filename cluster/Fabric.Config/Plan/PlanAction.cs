namespace Fabric.Config.Plan;

/// <summary>What a plan line says about one entry; <see cref="PlanLine"/> prints it as a symbol.</summary>
public enum PlanAction
{
    /// <summary>"+": created.</summary>
    Create,

    /// <summary>"~": changed in place.</summary>
    Update,

    /// <summary>"-": deleted (prune only).</summary>
    Delete,

    /// <summary>"=": already as the config says.</summary>
    Unchanged,

    /// <summary>"?": in the map but not in the config; kept (no prune).</summary>
    Kept,

    /// <summary>"!": the config asks for something the plan refuses (see the plan's errors).</summary>
    Refused,

    /// <summary>"#": information (e.g. a node that has not joined yet).</summary>
    Note,
}
