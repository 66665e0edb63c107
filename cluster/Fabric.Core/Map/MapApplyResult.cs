using Fabric.Proto;

namespace Fabric.Core.Map;

/// <summary>The outcome of applying a transaction: the new map, or why nothing changed.</summary>
public readonly record struct MapApplyResult(ClusterMap? Map, MapError? Error)
{
    public bool Ok => Map is not null;

    public static MapApplyResult Success(ClusterMap map) => new(map, null);

    public static MapApplyResult Fail(MapErrorKind kind, string message) => new(null, new MapError(kind, message));
}
