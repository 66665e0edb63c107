using System.Text.Json;
using Fabric.Proto;

namespace Fabric.Storage.Osd;

/// <summary>The names `fabric osd ops` and its JSON show for an op's kind and what it waits for: snake_case, as Ceph's
/// op dumps name their flag points ("write", "min_replicas", "replica_acks").</summary>
public static class OsdOpTexts
{
    private const string KindPrefix = "OsdOp";

    /// <summary>"write", "read", "copy_up", ...: the kind without its "OsdOp" prefix.</summary>
    public static string Kind(OsdOpKind kind)
    {
        string name = kind.ToString();
        return JsonNamingPolicy.SnakeCaseLower.ConvertName(name.StartsWith(KindPrefix, StringComparison.Ordinal) ? name[KindPrefix.Length..] : name);
    }

    /// <summary>"min_replicas", "replica_acks", "newer_map", ...</summary>
    public static string Wait(OsdOpWait wait) => JsonNamingPolicy.SnakeCaseLower.ConvertName(wait.ToString());
}
