namespace Fabric.Membership.Monitor;

/// <summary>Knobs of the failure detector that are not in the cluster map's settings.</summary>
public sealed record FailureDetectorOptions
{
    /// <summary>A peer report marks a node down at once when the monitor has not heard from it for this
    /// many heartbeat intervals either (two witnesses instead of a full grace).</summary>
    public double PeerReportIntervals { get; init; } = 2.0;

    /// <summary>Flap damping, as in BGP route-flap damping: every down adds a penalty that decays
    /// with this half-life; above <see cref="SuppressPenalty"/> a node that comes back is held down
    /// until the penalty decays below <see cref="ReusePenalty"/>.</summary>
    public TimeSpan PenaltyHalfLife { get; init; } = TimeSpan.FromSeconds(60);

    public double PenaltyPerDown { get; init; } = 1000;

    public double SuppressPenalty { get; init; } = 2500;

    public double ReusePenalty { get; init; } = 750;
}
