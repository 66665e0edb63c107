namespace Fabric.Membership.Monitor;

/// <summary>What a monitor is doing now.</summary>
public enum MonitorRole
{
    /// <summary>Not yet active or standby (starting, or campaigning).</summary>
    Electing,
    /// <summary>The single writer of the map: runs the failure detector, accepts changes.</summary>
    Active,
    /// <summary>Follows the map from the store and serves reads; redirects changes to the active one.</summary>
    Standby,
}
