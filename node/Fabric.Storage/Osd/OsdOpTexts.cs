using System.Text;
using Fabric.Proto;

namespace Fabric.Storage.Osd;

/// <summary>The names `fabric osd ops` and its JSON show for an op's kind and what it waits for: snake_case, as Ceph's
/// op dumps name their flag points ("write", "min_replicas", "replica_acks").</summary>
public static class OsdOpTexts
{
    /// <summary>"write", "read", "copy_up", ...: the kind without its "OsdOp" prefix.</summary>
    public static string Kind(OsdOpKind kind)
    {
        string name = kind.ToString();
        return Snake(name.StartsWith("OsdOp", StringComparison.Ordinal) ? name["OsdOp".Length..] : name);
    }

    /// <summary>"min_replicas", "replica_acks", "newer_map", ...</summary>
    public static string Wait(OsdOpWait wait) => Snake(wait.ToString());

    private static string Snake(string pascal)
    {
        var text = new StringBuilder(pascal.Length + 4);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (char.IsUpper(c) && i > 0)
            {
                text.Append('_');
            }
            text.Append(char.ToLowerInvariant(c));
        }
        return text.ToString();
    }
}
