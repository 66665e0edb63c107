namespace Fabric.Hypervisor.Guest;

/// <summary>What the tiny guest's /init should do besides bringing up its disks and NICs.</summary>
public sealed record GuestCmdlineOptions
{
    /// <summary>Default gateway (from the first NIC's network), or null.</summary>
    public string? Gateway { get; init; }
    /// <summary>A shell script (text) the guest runs after boot.</summary>
    public string? Workload { get; init; }
    /// <summary>Power off when the workload ends.</summary>
    public bool PowerOffWhenDone { get; init; }
    /// <summary>Print kernel messages on the console (slower boots under TCG: the serial port is slow).</summary>
    public bool Verbose { get; init; }
    /// <summary>More kernel parameters, appended as given.</summary>
    public string? Extra { get; init; }
}
