using System.Runtime.CompilerServices;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Membership.Monitor;

/// <summary>
/// The serialized form of each published map, made once and shared by every WatchMap stream: a map is
/// immutable once published and the same instance goes to every watcher, so the bytes are keyed by the
/// instance and live exactly as long as it does (nothing to evict).
/// </summary>
public static class EncodedMaps
{
    private static readonly ConditionalWeakTable<ClusterMap, byte[]> Encoded = new();

    public static byte[] Of(ClusterMap map) => Encoded.GetValue(map, static m => m.ToByteArray());
}
