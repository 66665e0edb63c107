namespace Fabric.Core.Map;

/// <summary>Why a map transaction was refused. Kinds map to gRPC status codes at the API edge.</summary>
public enum MapErrorKind
{
    /// <summary>The proposer based the change on an older epoch: re-read the map and retry.</summary>
    StaleEpoch,
    NotFound,
    AlreadyExists,
    /// <summary>The change itself is malformed (bad value, missing field).</summary>
    Invalid,
    /// <summary>The change is well formed but the map's current state forbids it (in use, locked).</summary>
    FailedPrecondition,
}

public sealed record MapError(MapErrorKind Kind, string Message)
{
    public override string ToString() => $"{Kind}: {Message}";
}
