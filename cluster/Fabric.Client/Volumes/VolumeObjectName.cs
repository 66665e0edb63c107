using System.Globalization;

namespace Fabric.Client.Volumes;

/// <summary>
/// Names of a volume's objects: <c>v&lt;volume id&gt;.&lt;index:x16&gt;</c> (DESIGN.md section 4). The
/// OSDs parse them back to find the volume an object belongs to (its lock, its snapshot context).
/// </summary>
public static class VolumeObjectName
{
    public static string Format(ulong volumeId, ulong index) => $"v{volumeId}.{index:x16}";

    /// <summary>Parses a volume object name; false for any other object name.</summary>
    public static bool TryParse(ReadOnlySpan<char> name, out ulong volumeId, out ulong index)
    {
        volumeId = 0;
        index = 0;
        if (name.Length < 19 || name[0] != 'v')
        {
            return false;
        }
        int dot = name.IndexOf('.');
        if (dot < 2 || name.Length - dot - 1 != 16)
        {
            return false;
        }
        ReadOnlySpan<char> id = name[1..dot];
        foreach (char c in id)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }
        return ulong.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out volumeId)
            && ulong.TryParse(name[(dot + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out index);
    }
}
