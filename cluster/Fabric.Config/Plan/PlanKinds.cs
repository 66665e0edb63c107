namespace Fabric.Config.Plan;

/// <summary>What a plan looks at.</summary>
[Flags]
public enum PlanKinds
{
    None = 0,

    /// <summary>Heartbeat settings (SettingsSet); monitor differences are reported, never changed.</summary>
    Settings = 1,

    /// <summary>Nodes are only reported (they join by themselves); no changes are made for them.</summary>
    Nodes = 2,
    Pools = 4,
    Volumes = 8,
    Networks = 16,
    Vms = 32,
    All = Settings | Nodes | Pools | Volumes | Networks | Vms,
}
