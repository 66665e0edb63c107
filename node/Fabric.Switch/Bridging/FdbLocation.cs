namespace Fabric.Switch.Bridging;

/// <summary>Where a MAC lives: a local port, or (through the tunnel port) a remote node.</summary>
public readonly record struct FdbLocation(ushort Port, uint RemoteNode)
{
    public bool IsRemote => RemoteNode != 0;
}

public enum FdbEntryKind : byte
{
    /// <summary>Learned from traffic; ages out.</summary>
    Dynamic,
    /// <summary>Installed by the control plane (a local VM port, or a VM the map places on another node); never ages.</summary>
    Static,
}

public struct FdbEntry
{
    public FdbLocation Location;
    public FdbEntryKind Kind;
    /// <summary>TimeProvider timestamp of the last frame from this MAC (dynamic entries age from it).</summary>
    public long LastSeen;
}

public enum LearnResult : byte
{
    /// <summary>Known at this location already (its age was refreshed).</summary>
    Refreshed,
    Learned,
    /// <summary>Known elsewhere before: the MAC moved (live migration) and now points here.</summary>
    Moved,
}
